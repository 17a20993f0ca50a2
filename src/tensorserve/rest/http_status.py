"""Canonical error code to HTTP status: TensorFlow Serving's ``ToHTTPStatusCode``, in one place."""

from __future__ import annotations

import types
from collections.abc import Mapping

from tensorserve.core.errors import Code

HTTP_STATUS: Mapping[Code, int] = types.MappingProxyType(
    {
        Code.OK: 200,
        Code.CANCELLED: 499,
        Code.UNKNOWN: 500,
        Code.INVALID_ARGUMENT: 400,
        Code.DEADLINE_EXCEEDED: 504,
        Code.NOT_FOUND: 404,
        Code.ALREADY_EXISTS: 409,
        Code.PERMISSION_DENIED: 403,
        Code.RESOURCE_EXHAUSTED: 429,
        Code.FAILED_PRECONDITION: 400,
        Code.ABORTED: 409,
        Code.OUT_OF_RANGE: 400,
        Code.UNIMPLEMENTED: 501,
        Code.INTERNAL: 500,
        Code.UNAVAILABLE: 503,
        Code.DATA_LOSS: 500,
        Code.UNAUTHENTICATED: 401,
    }
)


def http_status(code: Code) -> int:
    """The HTTP status TensorFlow Serving answers with for ``code`` (500 if unknown)."""
    return HTTP_STATUS.get(code, 500)
