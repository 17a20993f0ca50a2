"""How many bytes the request message of the gRPC call being handled had on the wire.

The data plane decodes a request off the event loop above a size; protobuf's
``ByteSize()`` would tell it, but by encoding the message again (10 ms for a 19 MB
Predict). The h2 server counts the bytes it read (``context.request_bytes``); for
grpcio's servers, which do not say, the request deserializer notes the length it was
given (:func:`note_received`) in a context variable, which the handler then reads: both
run in the call's own context (the handler thread's, or the call's task on grpc.aio).
"""

from __future__ import annotations

import contextvars

_RECEIVED: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "tensorserve_received_request_bytes", default=None
)


def note_received(size: int) -> None:
    """Record the size of the request message this call is about to handle."""
    _RECEIVED.set(size)


def received_bytes(context: object) -> int | None:
    """The request message's size on the wire: the h2 server's count, else what the
    deserializer noted for this call; None when neither is known."""
    size = getattr(context, "request_bytes", None)
    if isinstance(size, int):
        return size
    return _RECEIVED.get()
