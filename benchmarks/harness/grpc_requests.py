"""gRPC PredictRequests for the benchmark models, on the wire and through a real client."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .models import SIGNATURE, BenchModel

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


def predict_request(model: BenchModel, batch: np.ndarray | None = None) -> bytes:
    """The serialized ``tensorflow.serving.PredictRequest`` for ``batch`` (default
    ``model.sample``)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model.name
    request.model_spec.signature_name = SIGNATURE
    values = model.sample if batch is None else batch
    request.inputs[model.input_name].CopyFrom(tf.make_tensor_proto(values))
    return bytes(request.SerializeToString())


def write_grpc_frame(path: Path, message: bytes) -> Path:
    """Write ``message`` as one gRPC length-prefixed frame (uncompressed flag, 4-byte
    big-endian length), the body h2load POSTs."""
    path.write_bytes(struct.pack(">BI", 0, len(message)) + message)
    return path


def predict_with_client(target: str, model: BenchModel, timeout_s: float = 30.0) -> np.ndarray:
    """Call Predict once with the tensorflow_serving stubs; the output tensor. Raises
    ``grpc.RpcError`` when the status is not OK."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest.FromString(predict_request(model))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout_s)
    return np.asarray(tf.make_ndarray(response.outputs[model.output_name]))
