"""Write and read ``assets.extra/tf_serving_warmup_requests`` as TensorFlow Serving does.

The file is a TFRecord of serialized ``PredictionLog`` protos, each a ``predict_log``
whose request targets ``serving_default`` with a batch of one sample (TF Serving ignores
the model_spec name/version inside and honours the signature name). Thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from tensorserve.export.errors import ExportError, write_failure_reason
from tensorserve.export.samples import SampleBatch
from tensorserve.export.signatures import DEFAULT_SIGNATURE, IMAGE_INPUT

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


def warmup_path(version_dir: Path) -> Path:
    """Where TF Serving looks for warmup requests in a version directory."""
    return version_dir / WARMUP_DIR / WARMUP_FILE


def predict_requests(model_name: str, samples: SampleBatch) -> Iterator[predict_pb2.PredictRequest]:
    """One single-example ``serving_default`` request per sample."""
    for index in range(samples.count):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = DEFAULT_SIGNATURE
        if samples.encoded_images:
            image = np.array([samples.encoded_images[index]], dtype=object)
            request.inputs[IMAGE_INPUT].CopyFrom(tf.make_tensor_proto(image, dtype=tf.string))
        else:
            for name, values in samples.tensors.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(values[index : index + 1]))
        yield request


def write_warmup_file(version_dir: Path, model_name: str, samples: SampleBatch) -> Path:
    """Write one ``PredictionLog`` record per sample and return the file's path.
    Raises ``ExportError`` when the file cannot be written (a full disk, say)."""
    path = warmup_path(version_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(path)) as writer:
            for request in predict_requests(model_name, samples):
                log = prediction_log_pb2.PredictionLog()
                log.predict_log.request.CopyFrom(request)
                writer.write(log.SerializeToString())
    except (OSError, tf.errors.OpError) as error:
        raise ExportError(
            f"Cannot write the warmup requests to {path}: {write_failure_reason(error)}."
        ) from None
    return path


def read_warmup_file(path: Path) -> list[prediction_log_pb2.PredictionLog]:
    """Parse every record; raises ``tf.errors.DataLossError`` on a corrupt TFRecord."""
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs
