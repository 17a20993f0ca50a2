"""Reading request bodies: a size cap, and gzip with a cap on the decompressed size.

TensorFlow Serving reads every body whole, gunzips it when ``Content-Encoding``
mentions gzip (at most 100 MB out; on any failure the body becomes empty, so
the client sees "The document is empty"). We do the same, decompressing in
bounded steps so a gzip bomb stops at the cap instead of filling memory, and
we also cap the body as sent (:class:`PayloadTooLarge`, HTTP 413).
"""

from __future__ import annotations

import zlib

from tensorserve.core.errors import Cancelled, ResourceExhausted
from tensorserve.rest.asgi import Receive, Scope, header_value


class PayloadTooLarge(ResourceExhausted):
    """The request body is over the configured limit; answered with HTTP 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is larger than the limit of {limit} bytes")
        self.limit = limit


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """The whole request body; raises PayloadTooLarge past ``max_bytes``. Call from the loop."""
    declared = header_value(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Cancelled("Client closed the connection before sending the whole request")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(max_bytes)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def is_gzip_encoded(scope: Scope) -> bool:
    """Whether ``Content-Encoding`` mentions gzip (TensorFlow Serving's test)."""
    encoding = header_value(scope, b"content-encoding")
    return encoding is not None and b"gzip" in encoding.lower()


def gunzip_capped(data: bytes, max_bytes: int) -> bytes:
    """``data`` gunzipped, or b"" when it is not valid gzip or would exceed ``max_bytes``.

    Thread-safe; memory use is bounded by ``max_bytes`` whatever the input.
    """
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, max_bytes + 1)
    except zlib.error:
        return b""
    if len(out) > max_bytes or not decompressor.eof:
        return b""
    return out
