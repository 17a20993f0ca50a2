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
import collections
import copyreg
import io
import pickle
import socket
import struct
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from tensorserve.core.servable_id import ServableId
from tensorserve.dataplane.model_spec import ModelSpec

_LENGTH = struct.Struct("<Q")
_READ_BYTES = 256 * 1024
"""The read buffer's first size; it grows to the largest frame seen."""
_MIN_FREE = 64 * 1024
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


class MessageStream(asyncio.BufferedProtocol):
    """One end of a channel connection, both directions.

    Reading: the transport reads straight into one buffer; every frame that completes is
    unpickled and queued for :meth:`next` (no per-frame stream reads: a ``StreamReader``
    costs two ``readexactly`` awaits and copies per message). Writing: frames sent during
    one loop iteration go out in one write at its end, so a burst of answers costs the
    peer one wake-up. ``on_connected`` (for a server) is called with the stream once the
    transport is up.
    """

    def __init__(self, on_connected: Callable[[MessageStream], None] | None = None) -> None:
        self._on_connected = on_connected
        self._buffer = bytearray(_READ_BYTES)
        self._filled = 0
        self._messages: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._encode = Encoder()
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._writable = asyncio.Event()
        self._writable.set()

    # -- asyncio.BufferedProtocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._loop = asyncio.get_running_loop()
        if self._on_connected is not None:
            self._on_connected(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self._buffer) - self._filled < _MIN_FREE:
            self._grow(len(self._buffer) * 2)
        return memoryview(self._buffer)[self._filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self._filled += nbytes
        buffer, start, end = self._buffer, 0, self._filled
        while end - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > MAX_MESSAGE_BYTES:
                self._end()
                if self._transport is not None:
                    self._transport.abort()
                return
            stop = start + _LENGTH.size + length
            if stop > end:
                break
            with memoryview(buffer)[start + _LENGTH.size : stop] as frame:
                self._messages.append(pickle.loads(frame))
            start = stop
        if start:  # keep the partial frame, at the front (equal-length slice: no resize)
            remaining = end - start
            buffer[:remaining] = buffer[start:end]
            self._filled = remaining
        if self._filled >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer, 0)
            if _LENGTH.size + length > len(self._buffer):
                self._grow(_LENGTH.size + length)
        if self._messages:
            self._wake()

    def _grow(self, size: int) -> None:
        # A new buffer, not a resize: the transport may still hold a view of the old one.
        grown = bytearray(size)
        grown[: self._filled] = self._buffer[: self._filled]
        self._buffer = grown

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- reading ------------------------------------------------------------------

    async def next(self) -> Any:
        """The next message; raises ``ConnectionError`` once the peer is gone."""
        while not self._messages:
            if self._ended:
                raise ConnectionError("the channel connection ended")
            assert self._loop is not None
            self._waiter = self._loop.create_future()
            await self._waiter
        return self._messages.popleft()

    # -- writing ------------------------------------------------------------------

    def send(self, message: Any) -> None:
        """Queue ``message``; it is written at the end of this loop iteration."""
        if self.closed:
            return
        self._outgoing.append(self._encode(message))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        outgoing, self._outgoing = self._outgoing, []
        if outgoing and not self.closed:
            assert self._transport is not None
            self._transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))

    async def drain(self) -> None:
        """Write what is queued, then wait while the peer reads slower than we write."""
        self._flush()
        await self._writable.wait()

    def close(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()
