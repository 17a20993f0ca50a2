"""Request bodies sent with ``Content-Encoding: gzip`` or ``deflate`` (``tritonclient.http``
can send both; deflate is a zlib stream), inflated with a cap on the output so a
compression bomb stops at the cap instead of filling memory.

Pure and thread-safe.
"""

from __future__ import annotations

import zlib

from tensorserve.core.errors import InvalidArgument

ENCODINGS = (b"gzip", b"deflate")


def inflate_capped(body: bytes, encoding: bytes, max_bytes: int) -> bytes:
    """``body`` decompressed (gzip, or deflate = a zlib stream); InvalidArgument when it is
    not valid or would pass ``max_bytes``. Thread-safe; memory bounded by ``max_bytes``."""
    wbits = 16 + zlib.MAX_WBITS if encoding == b"gzip" else zlib.MAX_WBITS
    decompressor = zlib.decompressobj(wbits)
    name = encoding.decode("ascii")
    try:
        out = decompressor.decompress(body, max_bytes + 1)
    except zlib.error:
        raise InvalidArgument(f"the request body is not valid {name} data") from None
    if len(out) > max_bytes:
        raise InvalidArgument(f"the request body inflates past the limit of {max_bytes} bytes")
    if not decompressor.eof:
        raise InvalidArgument(f"the request body is cut-short {name} data")
    return out
