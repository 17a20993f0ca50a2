"""Triton's binary tensor data extension over HTTP (OIP spec §4).

A request or response body is ``J`` bytes of JSON followed by the binary
blobs of the tensors whose JSON carries ``"parameters": {"binary_data_size":
n}``, in the order those tensors appear, with no padding. ``J`` travels in the
``Inference-Header-Content-Length`` header; without it the body is all JSON.
Blobs are in the layout of :mod:`tensorserve.v2.raw_tensors`.

Pure and thread-safe; blobs are zero-copy views of the request body.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorserve.core.errors import InvalidArgument

HEADER = b"inference-header-content-length"
"""The header naming the JSON part's length (lower-case, as ASGI spells headers)."""

_MISSING_HEADER = (
    "must specify valid 'Inference-Header-Content-Length' in request header and "
    "'binary_data_size' when passing inputs in binary data format"
)


def split_body(body: bytes, header_length: bytes | None) -> tuple[bytes, memoryview]:
    """The JSON part of ``body`` and the binary part after it.

    ``header_length`` is the raw ``Inference-Header-Content-Length`` value, or
    None when absent (then the whole body is JSON).
    """
    if header_length is None:
        return body, memoryview(b"")
    text = header_length.strip()
    if not text.isdigit():
        raise InvalidArgument(
            f"Inference-Header-Content-Length must be a non-negative integer, got "
            f"{text.decode('latin-1')[:32]!r}"
        )
    length = int(text)
    if length > len(body):
        raise InvalidArgument(
            f"Inference-Header-Content-Length {length} is larger than the request body "
            f"({len(body)} bytes)"
        )
    if length == 0:
        raise InvalidArgument(
            "Inference-Header-Content-Length 0 (a raw binary request) is not supported; "
            "send the JSON inference header before the binary data"
        )
    view = memoryview(body)
    return body[:length] if length < len(body) else body, view[length:]


class BlobReader:
    """Hands out consecutive blobs of a request's binary part. Not thread-safe."""

    __slots__ = ("_data", "_offset")

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._offset = 0

    def take(self, size: int, tensor: str) -> memoryview:
        """The next ``size`` bytes, for input ``tensor``."""
        if not self._data and self._offset == 0 and size > 0:
            raise InvalidArgument(_MISSING_HEADER)
        end = self._offset + size
        if end > len(self._data):
            raise InvalidArgument(
                f"unexpected end of binary data for input '{tensor}': it declares "
                f"binary_data_size {size}, {len(self._data) - self._offset} bytes remain"
            )
        blob = self._data[self._offset : end]
        self._offset = end
        return blob

    def finish(self) -> None:
        """Raise when bytes are left over: the declared sizes do not add up to the body."""
        left = len(self._data) - self._offset
        if left:
            raise InvalidArgument(
                f"the request body has {left} bytes of binary data that no input's "
                "binary_data_size accounts for"
            )


def join_body(header: bytes, blobs: Sequence[bytes | memoryview]) -> tuple[bytes, int]:
    """A response body of ``header`` JSON then ``blobs``, and the header's length."""
    return b"".join([header, *blobs]), len(header)
