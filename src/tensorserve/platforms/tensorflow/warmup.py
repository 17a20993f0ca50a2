"""Model warmup: replay logged requests against a freshly loaded model.

TensorFlow Serving reads ``<version>/assets.extra/tf_serving_warmup_requests``,
a TFRecord of ``PredictionLog`` protos, and runs each logged request before the
version becomes available so the first real requests do not pay for lazy
initialisation. Limits and error texts follow ``saved_model_warmup_util.cc``.
Any error fails the load.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from tensorserve.core import errors
from tensorserve.servables.example_input import serialized_examples
from tensorserve.tfserving.tensor_proto import tensor_proto_to_ndarray

from .runtime import DataLossError, OpError, tf_record_iterator
from .session_runner import serving_error
from .tensorflow_model import TensorFlowModel

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
"""Where the warmup records live, relative to the version directory."""

MAX_WARMUP_RECORDS = 1000

logger = logging.getLogger("tensorserve.warmup")


def run_warmup(
    model: TensorFlowModel, version_dir: str | os.PathLike[str], iterations: int = 1
) -> int:
    """Replay every warmup record ``iterations`` times; return the records replayed
    (0 when the version has no warmup file). Raises ServingError on any failure."""
    path = Path(version_dir) / WARMUP_FILE
    if not path.exists():
        logger.info("No warmup data file found at %s", path)
        return 0
    logger.info("Starting to read warmup data for model at %s", path)
    started = time.monotonic()
    records = 0
    try:
        for record in tf_record_iterator(os.fspath(path)):
            log = _parse(record, path)
            for _ in range(iterations):
                run_warmup_request(model, log)
            records += 1
            if records > MAX_WARMUP_RECORDS:
                raise errors.InvalidArgument(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
    except DataLossError as exc:
        raise errors.DataLoss(
            f"{exc.message}. Please verify your warmup data is in TFRecord format."
        ) from None
    except OpError as exc:
        raise serving_error(exc) from None
    elapsed_us = int((time.monotonic() - started) * 1_000_000)
    logger.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d. "
        "Elapsed time (microseconds): %d.",
        path,
        records,
        elapsed_us,
    )
    return records


def _parse(record: bytes, path: Path) -> prediction_log_pb2.PredictionLog:
    try:
        return prediction_log_pb2.PredictionLog.FromString(record)
    except DecodeError:
        text = record.decode("utf-8", errors="replace")
        raise errors.InvalidArgument(f"Failed to parse warmup record: {text} from {path}") from None


def run_warmup_request(model: TensorFlowModel, log: prediction_log_pb2.PredictionLog) -> None:
    """Run one logged request; its model name and version are ignored, its signature
    name is honoured. Unset logs are skipped; unsupported kinds are UNIMPLEMENTED."""
    kind = log.WhichOneof("log_type")
    if kind is None:
        return
    if kind == "predict_log":
        request = log.predict_log.request
        model.predict(
            request.model_spec.signature_name,
            _predict_inputs(request),
            list(request.output_filter),
        )
    elif kind == "classify_log":
        request = log.classify_log.request
        model.classify(request.model_spec.signature_name, serialized_examples(request.input))
    elif kind == "regress_log":
        request = log.regress_log.request
        model.regress(request.model_spec.signature_name, serialized_examples(request.input))
    elif kind == "multi_inference_log":
        request = log.multi_inference_log.request
        model_names = {task.model_spec.name for task in request.tasks}
        if "" in model_names:
            raise errors.InvalidArgument("Found ModelSpec with an empty model name.")
        if len(model_names) > 1:
            raise errors.InvalidArgument(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        model.multi_inference(
            [(task.model_spec.signature_name, task.method_name) for task in request.tasks],
            serialized_examples(request.input),
        )
    else:
        number = prediction_log_pb2.PredictionLog.DESCRIPTOR.fields_by_name[kind].number
        raise errors.Unimplemented(f"Unsupported log_type for warmup: {number}")


def _predict_inputs(request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
    inputs = {}
    for alias, tensor_proto in request.inputs.items():
        try:
            inputs[alias] = tensor_proto_to_ndarray(tensor_proto)
        except Exception:
            raise errors.InvalidArgument(f"tensor parsing error: {alias}") from None
    return inputs
