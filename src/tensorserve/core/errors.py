"""Canonical errors of the serving core.

Every failure that a client can see is a :class:`ServingError` carrying one
canonical :class:`Code` (TensorFlow's ``tensorflow.error.Code``) and the exact
message TensorFlow Serving uses, because clients match on those texts. Each
transport maps the code once: ``rest/status.py`` to HTTP, ``grpc/status.py``
to gRPC. The core never imports a web framework.

Hierarchy::

    ServingError(code, message)
    ├── InvalidArgument          INVALID_ARGUMENT
    │   └── UnknownVersionLabel  "Unrecognized servable version label: <l>"
    ├── NotFound                 NOT_FOUND
    │   └── ServableNotFound     "Servable not found for request: Latest(<m>)"
    ├── FailedPrecondition       FAILED_PRECONDITION
    ├── ResourceExhausted        RESOURCE_EXHAUSTED
    │   └── InsufficientResources "Insufficient resources to load servable ..."
    ├── Unavailable              UNAVAILABLE
    ├── DeadlineExceeded         DEADLINE_EXCEEDED
    ├── Unimplemented            UNIMPLEMENTED
    ├── Internal                 INTERNAL
    ├── DataLoss                 DATA_LOSS
    └── Unknown                  UNKNOWN
"""

from __future__ import annotations

import enum

from tensorserve.core.released_frames import drop_tracebacks


class Code(enum.IntEnum):
    """TensorFlow canonical error codes (``tensorflow/core/protobuf/error_codes.proto``)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ServingError(Exception):
    """An error with a canonical code and a client-visible message."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}: {self.message!r})"

    def __str__(self) -> str:
        return self.message

    def with_prefix(self) -> str:
        """The ``CODE_NAME: message`` form TensorFlow uses when it nests errors."""
        return f"{self.code.name}: {self.message}"


class InvalidArgument(ServingError):
    code = Code.INVALID_ARGUMENT


class NotFound(ServingError):
    code = Code.NOT_FOUND


class FailedPrecondition(ServingError):
    code = Code.FAILED_PRECONDITION


class ResourceExhausted(ServingError):
    code = Code.RESOURCE_EXHAUSTED


class Unavailable(ServingError):
    code = Code.UNAVAILABLE


class DeadlineExceeded(ServingError):
    code = Code.DEADLINE_EXCEEDED


class Unimplemented(ServingError):
    code = Code.UNIMPLEMENTED


class Internal(ServingError):
    code = Code.INTERNAL


class DataLoss(ServingError):
    code = Code.DATA_LOSS


class Unknown(ServingError):
    code = Code.UNKNOWN


class Cancelled(ServingError):
    code = Code.CANCELLED


class ServableNotFound(NotFound):
    """No available version matches the request (``Latest(m)`` or ``Specific(m, v)``)."""

    def __init__(self, request: object) -> None:
        super().__init__(f"Servable not found for request: {request}")
        self.request = request


class UnknownVersionLabel(InvalidArgument):
    def __init__(self, label: str) -> None:
        super().__init__(f"Unrecognized servable version label: {label}")
        self.label = label


class InsufficientResources(ResourceExhausted):
    def __init__(self, name: str, version: int) -> None:
        super().__init__(
            f"Insufficient resources to load servable {{name: {name} version: {version}}}"
        )
        self.name = name
        self.version = version


def as_serving_error(exc: BaseException) -> ServingError:
    """Wrap any exception as a ServingError, keeping a ServingError as it is."""
    if isinstance(exc, ServingError):
        return exc
    return Unknown(f"{type(exc).__name__}: {exc}")


def as_answer(exc: BaseException) -> ServingError:
    """:func:`as_serving_error` for an error its caller answers (or hands to the
    requests that wait on it) and does not log: a ``ServingError`` comes back with its
    tracebacks detached.

    A caller keeps the answer in a local; the traceback runs through that very frame,
    and through the request's other frames with its tensors among their locals. That
    cycle would hold the request until a garbage collection (see
    :mod:`tensorserve.core.released_frames`). Log an unexpected error from ``exc``,
    whose traceback this leaves alone.
    """
    if isinstance(exc, ServingError):
        drop_tracebacks(exc)
        return exc
    return Unknown(f"{type(exc).__name__}: {exc}")
