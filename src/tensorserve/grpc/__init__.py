"""TensorFlow Serving's gRPC API (``tensorflow.serving.PredictionService`` and
``ModelService``) on grpc.aio, over the protocol-neutral data plane."""

from tensorserve.grpc.model_service import MetricValue, ModelService, ReloadConfig
from tensorserve.grpc.prediction_service import PredictionService
from tensorserve.grpc.server import (
    GrpcOptions,
    GrpcServer,
    bind_ports,
    create_grpc_server,
    parse_channel_arguments,
    ssl_server_credentials,
)

__all__ = [
    "GrpcOptions",
    "GrpcServer",
    "MetricValue",
    "ModelService",
    "PredictionService",
    "ReloadConfig",
    "bind_ports",
    "create_grpc_server",
    "parse_channel_arguments",
    "ssl_server_credentials",
]
