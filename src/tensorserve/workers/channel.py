"""Length-prefixed pickled messages between the model process and its transport workers.

Both ends are tensorserve processes of one server, joined by a Unix socket in a
directory only the server's user can enter, so pickle (protocol 5, in-band: the
unpickled arrays are writable copies, as a codec's are) carries every value the
data plane hands around: specs, signatures, arrays, states. Read-only mapping
proxies, which signatures use, travel as dicts and come back as proxies.
"""

from __future__ import annotations

import asyncio
import copyreg
import io
import pickle
import struct
import types
from typing import Any

_LENGTH = struct.Struct("<Q")

MAX_MESSAGE_BYTES = 1 << 34
"""A frame longer than this is a bug or a stray writer; the connection is dropped."""


def mapping_proxy(mapping: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    """Rebuilds a proxy on unpickling (the proxy type itself cannot be named in a pickle)."""
    return types.MappingProxyType(mapping)


def _reduce_proxy(proxy: types.MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return mapping_proxy, (dict(proxy),)


_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[types.MappingProxyType] = _reduce_proxy


def encode(message: Any) -> bytes:
    """One frame: the pickle's length, then the pickle."""
    out = io.BytesIO()
    out.write(b"\0" * _LENGTH.size)
    pickler = pickle.Pickler(out, protocol=5)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(message)
    with out.getbuffer() as frame:
        _LENGTH.pack_into(frame, 0, len(frame) - _LENGTH.size)
    return out.getvalue()


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message; raises ``asyncio.IncompleteReadError`` at end of stream."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_MESSAGE_BYTES:
        raise ConnectionError(f"worker channel frame of {length} bytes")
    return pickle.loads(await reader.readexactly(length))


class Writer:
    """Writes frames to one stream; ``send`` never blocks the loop (asyncio buffers),
    ``drain`` waits while the peer is slow."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def send(self, message: Any) -> None:
        if not self._writer.is_closing():
            self._writer.write(encode(message))

    async def drain(self) -> None:
        if not self._writer.is_closing():
            await self._writer.drain()

    def close(self) -> None:
        self._writer.close()

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()
