"""Length-prefixed pickled messages between the model process and its transport workers.

Both ends are tensorserve processes of one server, joined by a Unix socket in a
directory only the server's user can enter, so pickle (protocol 5, in-band: the
unpickled arrays are writable copies, as a codec's are) carries every value the
data plane hands around: specs, signatures, arrays, states. Read-only mapping
proxies, which signatures use, travel as dicts and come back as proxies.
Numeric arrays travel as raw bytes (see :class:`_Pickler`).
"""

from __future__ import annotations

import asyncio
import copyreg
import io
import pickle
import socket
import struct
import types
from typing import Any

import numpy as np

from tensorserve.core.servable_id import ServableId
from tensorserve.dataplane.model_spec import ModelSpec

_LENGTH = struct.Struct("<Q")
_EMPTY_LENGTH = bytes(_LENGTH.size)

MAX_MESSAGE_BYTES = 1 << 34
"""A frame longer than this is a bug or a stray writer; the connection is dropped."""


def mapping_proxy(mapping: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    """Rebuilds a proxy on unpickling (the proxy type itself cannot be named in a pickle)."""
    return types.MappingProxyType(mapping)


def array_from(dtype: str, shape: tuple[int, ...], data: bytearray) -> np.ndarray:
    """Rebuilds an array on unpickling: a writable view of the bytearray pickle made."""
    return np.frombuffer(data, dtype).reshape(shape)


def _reduce_proxy(proxy: types.MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return mapping_proxy, (dict(proxy),)


def _reduce_spec(spec: ModelSpec) -> tuple[Any, tuple[Any, ...]]:
    return ModelSpec, (spec.name, spec.version, spec.label, spec.signature_name)


def _reduce_id(servable_id: ServableId) -> tuple[Any, tuple[Any, ...]]:
    return ServableId, (servable_id.name, servable_id.version)


class _Pickler(pickle.Pickler):
    """Pickle with the data plane's hot types made cheap: numeric arrays as dtype,
    shape and one bytearray (numpy's own reduce costs ~5 µs an array), specs and ids
    as their fields (a slotted dataclass's reduce costs ~3 µs)."""

    dispatch_table = {
        **copyreg.dispatch_table,
        types.MappingProxyType: _reduce_proxy,
        ModelSpec: _reduce_spec,
        ServableId: _reduce_id,
    }

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray and not obj.dtype.hasobject:
            data = bytearray(np.ascontiguousarray(obj).data)
            return array_from, (obj.dtype.str, obj.shape, data)
        return NotImplemented


class Encoder:
    """Frames messages: the pickle's length, then the pickle. One per writer (it reuses
    its pickler and buffer); not thread-safe."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._pickler = _Pickler(self._out, protocol=5)

    def __call__(self, message: Any) -> bytes:
        out = self._out
        out.seek(0)
        out.truncate()
        out.write(_EMPTY_LENGTH)
        self._pickler.clear_memo()
        self._pickler.dump(message)
        with out.getbuffer() as frame:
            _LENGTH.pack_into(frame, 0, len(frame) - _LENGTH.size)
        return out.getvalue()


def encode(message: Any) -> bytes:
    """One frame (see :class:`Encoder`)."""
    return Encoder()(message)


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message; raises ``asyncio.IncompleteReadError`` at end of stream."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_MESSAGE_BYTES:
        raise ConnectionError(f"worker channel frame of {length} bytes")
    return pickle.loads(await reader.readexactly(length))


def read_message_blocking(sock: socket.socket) -> Any:
    """The next message on a blocking socket; raises ConnectionError at end of stream."""
    (length,) = _LENGTH.unpack(_receive(sock, _LENGTH.size))
    if length > MAX_MESSAGE_BYTES:
        raise ConnectionError(f"worker channel frame of {length} bytes")
    return pickle.loads(_receive(sock, length))


def _receive(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    filled = 0
    while filled < size:
        received = sock.recv_into(view[filled:])
        if received == 0:
            raise ConnectionError("the model process closed the connection")
        filled += received
    return data


class Writer:
    """Writes frames to one stream; ``send`` never blocks the loop (asyncio buffers),
    ``drain`` waits while the peer is slow."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._encode = Encoder()

    def send(self, message: Any) -> None:
        if not self._writer.is_closing():
            self._writer.write(self._encode(message))

    async def drain(self) -> None:
        if not self._writer.is_closing():
            await self._writer.drain()

    def close(self) -> None:
        self._writer.close()

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()
