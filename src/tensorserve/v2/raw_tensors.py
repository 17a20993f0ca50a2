"""The V2 binary tensor layout, shared by REST's binary extension and gRPC's raw contents.

Fixed-width types are their elements in row-major order, little-endian.
``BOOL`` is one byte per element. ``BYTES`` is, per element, a 4-byte
little-endian length followed by that many bytes. Decoding checks the byte
count against the shape exactly, as Triton does, so a short or long buffer is
a client error, never a reshape failure inside the model.

Pure and thread-safe. Decoded fixed-width arrays are read-only views of the
buffer (no copy); models must not write into their inputs.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.dtypes import byte_view
from tensorserve.v2.datatypes import BYTES, Datatype

_LENGTH = struct.Struct("<I")
# Elements past this make a shape a client mistake, not a reason to allocate.
MAX_ELEMENTS = 1 << 34


def element_count(shape: Sequence[int], tensor: str) -> int:
    """The number of elements ``shape`` holds; InvalidArgument for a negative or absurd dim."""
    for dim in shape:
        if dim < 0:
            raise InvalidArgument(
                f"tensor '{tensor}' has a negative dimension in shape {list(shape)}"
            )
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise InvalidArgument(f"tensor '{tensor}' shape {list(shape)} is too large")
    return count


def decode_raw(
    data: bytes | bytearray | memoryview, datatype: Datatype, shape: Sequence[int], tensor: str
) -> np.ndarray:
    """The array ``data`` holds for a tensor of ``datatype`` and ``shape``."""
    count = element_count(shape, tensor)
    if datatype.name == BYTES:
        return _decode_bytes(memoryview(data), count, tensor).reshape(tuple(shape))
    expected = count * datatype.itemsize
    if len(data) != expected:
        raise InvalidArgument(
            f"unexpected total byte size {len(data)} for input '{tensor}', expecting {expected}"
        )
    if datatype.numpy == np.bool_:
        return (np.frombuffer(data, dtype=np.uint8) != 0).reshape(tuple(shape))
    array = np.frombuffer(data, dtype=datatype.numpy.newbyteorder("<"))
    return array.reshape(tuple(shape))


def encode_raw(array: np.ndarray, datatype: Datatype) -> bytes | memoryview:
    """``array`` in the binary layout of ``datatype``: for a numeric array, a view of its
    own buffer when it already has that layout (the answer is joined once, later, so a
    copy here would be one more of every output)."""
    if datatype.name == BYTES:
        return _encode_bytes(array)
    if datatype.numpy == np.bool_:
        return byte_view(np.ascontiguousarray(array, dtype=np.bool_))
    return byte_view(np.ascontiguousarray(array, dtype=datatype.numpy.newbyteorder("<")))


def _decode_bytes(data: memoryview, count: int, tensor: str) -> np.ndarray:
    size = len(data)
    if count * _LENGTH.size > size:  # checked before allocating one slot per claimed element
        raise InvalidArgument(
            f"unexpected total byte size {size} for BYTES input '{tensor}': "
            f"{count} elements need at least {count * _LENGTH.size}"
        )
    out = np.empty(count, dtype=object)
    offset = 0
    for index in range(count):
        if offset + _LENGTH.size > size:
            raise InvalidArgument(
                f"unexpected end of BYTES data for input '{tensor}': "
                f"{index} of {count} elements present"
            )
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > size:
            raise InvalidArgument(
                f"element {index} of BYTES input '{tensor}' claims {length} bytes, "
                f"only {size - offset} remain"
            )
        out[index] = bytes(data[offset : offset + length])
        offset += length
    if offset != size:
        raise InvalidArgument(
            f"unexpected total byte size {size} for BYTES input '{tensor}', "
            f"{count} elements use {offset}"
        )
    return out


def _encode_bytes(array: np.ndarray) -> bytes:
    parts: list[bytes] = []
    for element in np.asarray(array, dtype=object).ravel():
        value = element.encode("utf-8") if isinstance(element, str) else bytes(element)
        parts.append(_LENGTH.pack(len(value)))
        parts.append(value)
    return b"".join(parts)
