"""The wire format of a transport worker's hop to a model process, and the stand-in model.

One frame is a 32-byte header, then ``nbytes`` of raw float32 tensor bytes when the
tensor travels inline. When it travels in a shared-memory slot, the header alone is
the notify: ``slot`` names the slot and the bytes are already there. Requests and
answers use the same header. A real protocol would add a model name, a signature and
tensor names and dtypes: a few dozen bytes more, nothing against a system call.

A slot holds one request's input (up to ``SLOT_INPUT_BYTES``) followed by its answer
(up to ``SLOT_OUTPUT_BYTES``); a segment is ``slots`` of them back to back.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np

#: request id, slot (INLINE, HELLO or a slot index), payload bytes, ndim, 4 dims.
HEADER = struct.Struct("<IiII4I")
INLINE = -1
#: The first frame on a shared-memory connection; its payload is the segment's name.
HELLO = -2
SLOT_INPUT_BYTES = 128 * 1024
SLOT_OUTPUT_BYTES = 4 * 1024
SLOT_BYTES = SLOT_INPUT_BYTES + SLOT_OUTPUT_BYTES


class Header(NamedTuple):
    """One decoded frame header."""

    request_id: int
    slot: int
    nbytes: int
    shape: tuple[int, ...]


def pack_header(request_id: int, slot: int, nbytes: int, shape: tuple[int, ...]) -> bytes:
    """The 32-byte header of a frame carrying a float32 tensor of ``shape``."""
    dims = (*shape, 0, 0, 0, 0)[:4]
    return HEADER.pack(request_id, slot, nbytes, len(shape), *dims)


def unpack_header(data: bytes | bytearray | memoryview, offset: int = 0) -> Header:
    """Decode the header at ``offset`` of ``data``."""
    request_id, slot, nbytes, ndim, *dims = HEADER.unpack_from(data, offset)
    return Header(request_id, slot, nbytes, tuple(dims[:ndim]))


def slot_input(buffer: memoryview, slot: int, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 view of ``slot``'s input region (no copy)."""
    return np.ndarray(shape, dtype=np.float32, buffer=buffer, offset=slot * SLOT_BYTES)


def slot_output(buffer: memoryview, slot: int, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 view of ``slot``'s answer region (no copy)."""
    offset = slot * SLOT_BYTES + SLOT_INPUT_BYTES
    return np.ndarray(shape, dtype=np.float32, buffer=buffer, offset=offset)


def stand_in_model(x: np.ndarray) -> np.ndarray:
    """half_plus_two's ``0.5 * x + 2``; a 4-D image batch is first summed to 10 per image.

    The reduction reads every input byte, as a model would, and answers the CNN's
    [batch, 10] shape; it costs the same wherever it runs, so the in-process row
    prices it and the other rows differ from that row by the hop alone.
    """
    if x.ndim == 4:
        x = x.reshape(x.shape[0], 16, -1).sum(axis=2)[:, :10]
    return (0.5 * x + 2.0).astype(np.float32, copy=False)
