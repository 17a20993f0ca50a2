"""Error to HTTP status, in one place: TensorFlow Serving's ``ToHTTPStatusCode`` by canonical
code, and the few errors of our own that HTTP has a better word for (a body over the
limit is 413, though its code, RESOURCE_EXHAUSTED, is what metrics and gRPC report).
"""

from __future__ import annotations

import types
from collections.abc import Mapping

from tensorserve.core.errors import Code, ServingError
from tensorserve.rest.request_body import PayloadTooLarge

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


ERROR_HTTP_STATUS: Mapping[type[ServingError], int] = types.MappingProxyType({PayloadTooLarge: 413})
"""Errors whose HTTP status is not their code's; matched on the class and its bases."""


def error_http_status(error: ServingError) -> int:
    """The HTTP status a REST client sees for ``error``; the one place that decides it."""
    for cls in type(error).__mro__:
        status = ERROR_HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return http_status(error.code)
