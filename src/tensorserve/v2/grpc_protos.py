"""Where the V2 gRPC classes come from: ``tritonclient.grpc``'s generated protos.

The ``inference`` package is taken from the official Triton client (pinned in
``pyproject.toml``, installed ``--no-deps``) rather than generated at build
time: the classes are then byte-for-byte those the conformance client speaks,
no ``.proto`` is vendored, and there is no protoc step to keep in step with
TensorFlow's protobuf. Only one copy of package ``inference`` can live in a
process's descriptor pool, so nothing else in tensorserve may load another
(KServe's, MLServer's).

This is the only module that imports them, and only the gRPC server imports it,
on start-up: after TensorFlow is loaded the import costs about 10 ms (measured
with ``-X importtime``; 0.6 s cold without TensorFlow, mostly ml_dtypes).
"""

from __future__ import annotations

from google.protobuf.descriptor import ServiceDescriptor

try:
    from tritonclient.grpc import service_pb2
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "V2 gRPC needs tritonclient's generated protos: "
        "pip install --no-deps 'tritonclient>=2.73,<2.74' (make install does)"
    ) from exc

SERVICE: ServiceDescriptor = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVICE_NAME: str = SERVICE.full_name
"""``inference.GRPCInferenceService``."""

__all__ = ["SERVICE", "SERVICE_NAME", "service_pb2"]
