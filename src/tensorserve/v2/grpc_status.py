"""Canonical error codes to the gRPC status codes V2 clients expect (OIP spec §5.6).

Triton answers a fixed set of codes: INVALID_ARGUMENT for every client mistake,
NOT_FOUND, UNAVAILABLE, UNIMPLEMENTED, INTERNAL for a failing model, plus
gRPC's own DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and CANCELLED. TensorFlow
Serving's FAILED_PRECONDITION and OUT_OF_RANGE (a missing signature, a value
out of range) are client mistakes there, so they become INVALID_ARGUMENT.
Messages keep their text, cut at 1024 characters as on the TF Serving service.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import NoReturn

import grpc

from tensorserve.core.errors import Code, ServingError
from tensorserve.grpc.status import truncate_message

V2_GRPC_STATUS_BY_CODE: Mapping[Code, grpc.StatusCode] = types.MappingProxyType(
    {
        Code.OK: grpc.StatusCode.OK,
        Code.CANCELLED: grpc.StatusCode.CANCELLED,
        Code.UNKNOWN: grpc.StatusCode.INTERNAL,
        Code.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
        Code.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
        Code.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
        Code.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
        Code.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
        Code.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
        Code.FAILED_PRECONDITION: grpc.StatusCode.INVALID_ARGUMENT,
        Code.ABORTED: grpc.StatusCode.ABORTED,
        Code.OUT_OF_RANGE: grpc.StatusCode.INVALID_ARGUMENT,
        Code.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
        Code.INTERNAL: grpc.StatusCode.INTERNAL,
        Code.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
        Code.DATA_LOSS: grpc.StatusCode.INTERNAL,
        Code.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    }
)


def v2_grpc_status_code(code: Code) -> grpc.StatusCode:
    """The gRPC status a V2 client gets for a canonical code."""
    return V2_GRPC_STATUS_BY_CODE[code]


async def abort_v2(context: grpc.aio.ServicerContext, error: ServingError) -> NoReturn:
    """End the RPC with ``error`` in V2's codes. Call from the event loop."""
    await context.abort(v2_grpc_status_code(error.code), truncate_message(error.message))
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises
