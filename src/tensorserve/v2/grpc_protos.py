"""Where the V2 gRPC classes come from: ``tritonclient.grpc``'s generated protos, as
descriptors (:mod:`tensorserve.protos.v2`).

The ``inference`` package is the official Triton client's (pinned in
``pyproject.toml``; the descriptors are dumped from it and checked in): the classes
are then byte-for-byte those the conformance client speaks, no ``.proto`` is
vendored, and there is no protoc step to keep in step with TensorFlow's protobuf.
The server does not need ``tritonclient`` installed (``make install`` installs it
``--no-deps`` for the tests' client), so V2 gRPC works from a plain ``pip install``.
Only one copy of package ``inference`` can live in a process's
descriptor pool, so nothing else in tensorserve may load another (KServe's, MLServer's).

This is the only module the V2 codec takes them from.
"""

from __future__ import annotations

from google.protobuf.descriptor import ServiceDescriptor

from tensorserve.protos.v2 import service_pb2

SERVICE: ServiceDescriptor = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVICE_NAME: str = SERVICE.full_name
"""``inference.GRPCInferenceService``."""

__all__ = ["SERVICE", "SERVICE_NAME", "service_pb2"]
