"""The one table from canonical error codes to gRPC status codes.

TensorFlow Serving passes the TensorFlow code through unchanged as the gRPC
code (``model_servers/grpc_status_util.cc``) and cuts messages longer than
1024 characters, appending ``...TRUNCATED``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import NoReturn

import grpc

from tensorserve.core.errors import Code, ServingError

MAX_MESSAGE_CHARS = 1024
TRUNCATION_SUFFIX = "...TRUNCATED"

GRPC_STATUS_BY_CODE: Mapping[Code, grpc.StatusCode] = types.MappingProxyType(
    {
        Code.OK: grpc.StatusCode.OK,
        Code.CANCELLED: grpc.StatusCode.CANCELLED,
        Code.UNKNOWN: grpc.StatusCode.UNKNOWN,
        Code.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
        Code.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
        Code.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
        Code.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
        Code.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
        Code.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
        Code.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
        Code.ABORTED: grpc.StatusCode.ABORTED,
        Code.OUT_OF_RANGE: grpc.StatusCode.OUT_OF_RANGE,
        Code.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
        Code.INTERNAL: grpc.StatusCode.INTERNAL,
        Code.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
        Code.DATA_LOSS: grpc.StatusCode.DATA_LOSS,
        Code.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    }
)


def grpc_status_code(code: Code) -> grpc.StatusCode:
    """The gRPC status code for a canonical code."""
    return GRPC_STATUS_BY_CODE[code]


def truncate_message(message: str) -> str:
    """``message`` cut to 1024 characters plus ``...TRUNCATED`` when longer."""
    if len(message) > MAX_MESSAGE_CHARS:
        return message[:MAX_MESSAGE_CHARS] + TRUNCATION_SUFFIX
    return message


async def abort_with_error(context: grpc.aio.ServicerContext, error: ServingError) -> NoReturn:
    """End the RPC with ``error``'s code and (truncated) message. Call from the event loop."""
    await context.abort(grpc_status_code(error.code), truncate_message(error.message))
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises
