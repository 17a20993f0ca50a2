"""One client connection: HTTP/2 frames in, gRPC calls run as tasks, frames out.

Receiving: the connection advertises the largest windows HTTP/2 allows and returns
connection-level credit in large steps, so a client is never held up by this side's
flow control (a call's request is bounded by the message size instead, as grpcio's is).
Frames are read off the socket's own bytes as views; a DATA payload goes to its call as
it arrives, and a message is joined from those views once, so a large request is copied
once here however it is framed.
Sending: DATA respects the client's connection and stream windows; what does not fit
waits on its stream until WINDOW_UPDATE frames arrive, and a streaming handler's
``write`` waits while more than :data:`WRITE_BUFFER` bytes are queued.

A client that does not read what it is sent (answers, PING and SETTINGS
acknowledgements) is not read from either: once more than :data:`WRITE_HIGH_WATER`
bytes wait in the transport, the connection stops reading until they have gone, and
streaming handlers wait too. A flood of frames then waits in the kernel's buffers, not
in the server's memory, as asyncio's own streams do it.

A unary call whose request arrived whole is answered with one ``transport.write``:
headers, message and trailers. An answer past :data:`COPY_LIMIT` bytes is never copied:
its frames go out as headers plus views of the message (``transport.writelines``), so a
32 MB answer costs the socket's copy, not seven of its own.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import random
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, cast

import grpc
import grpc.aio

from tensorserve.grpc.h2 import frames
from tensorserve.grpc.h2.context import ServicerContext
from tensorserve.grpc.h2.frames import ProtocolError, frame
from tensorserve.grpc.h2.headers import (
    OK_TRAILERS,
    RESPONSE_HEADERS,
    Header,
    HeaderDecoder,
    Metadata,
    grpc_timeout_s,
    invocation_metadata,
    literal_block,
    metadata_headers,
    status_headers,
)
from tensorserve.grpc.h2.keepalive import PingPolicy
from tensorserve.grpc.h2.lifetime import AGE_JITTER

if TYPE_CHECKING:
    from tensorserve.grpc.h2.server import H2Server

_LOG = logging.getLogger(__name__)

_END = frames.END_HEADERS | frames.END_STREAM

MAX_HEADER_BLOCK = 64 * 1024
"""Header list and CONTINUATION accumulation limit (grpcio's default is 8 KiB of
metadata; this leaves room while bounding what a client can make the server hold)."""
MAX_FRAME = 1 << 20
"""The largest frame this side accepts (SETTINGS_MAX_FRAME_SIZE): fewer frames to parse
for large tensors."""
MAX_MESSAGE = 2**31 - 1
"""TensorFlow Serving's receive limit (INT32_MAX)."""
WRITE_BUFFER = 1 << 20
"""Queued answer bytes past which a streaming ``write`` waits for the client's window."""
COPY_LIMIT = 64 * 1024
"""Answers up to this size are joined into one write; larger ones are sent as views."""
WRITE_HIGH_WATER = 1 << 20
"""Bytes waiting in the transport past which the connection stops reading."""
HANDSHAKE_TIMEOUT_S = 120.0
"""How long a new connection may take to send the HTTP/2 preface (grpcio's default
handshake timeout): an idle socket is closed instead of held."""
_FRAME_HEADER = struct.Struct(">IBI")
"""A frame header read in one call: (length << 8 | type), flags, stream id."""
_CONNECTION_CREDIT = frames.MAX_WINDOW - frames.DEFAULT_WINDOW
_DRAIN_PING = b"tsdrain!"
_KEEPALIVE_PING = b"tskeep!!"
"""The PING the keepalive sends (``keepalive.py``); its ACK means the client is there."""
"""The PING a drain sends after its first GOAWAY; its ACK means the client has seen it."""
DRAIN_PING_WAIT_S = 1.0
"""How long a drain waits for that ACK before sending the final GOAWAY anyway."""
LINGER_S = 2.0
"""After the final GOAWAY and the last answer, how long the half-closed socket waits
for the client to close before it is closed: closing with unread client frames in the
kernel's buffer would reset the connection under answers still in flight."""

_ENCODINGS: dict[bytes, Callable[[bytes], bytes]] = {
    b"identity": lambda data: data,
    b"gzip": lambda data: zlib.decompress(data, 16 + zlib.MAX_WBITS),
    b"deflate": zlib.decompress,
}


class Stream:
    """One call: its request messages in, its answer out."""

    __slots__ = (
        "cancelled",
        "closed",
        "compressed",
        "connection",
        "consumed",
        "deadline",
        "decompress",
        "drained",
        "ended",
        "headers",
        "headers_sent",
        "id",
        "initial_metadata",
        "invocation_metadata",
        "messages",
        "need",
        "parts",
        "peer",
        "pending",
        "pending_end",
        "pending_size",
        "prefix",
        "send_window",
        "task",
        "timer",
        "waiter",
    )  # fmt: skip

    def __init__(self, stream_id: int, connection: Connection, headers: list[Header]) -> None:
        self.id = stream_id
        self.connection = connection
        self.headers = headers
        self.invocation_metadata: Metadata | None = None
        self.deadline: float | None = None
        self.peer = connection.peer
        self.cancelled = False
        self.closed = False
        self.messages: collections.deque[bytes] = collections.deque()
        self.prefix = bytearray()
        """The next message's 5-byte prefix, while it is incomplete."""
        self.need: int | None = None
        """Bytes the message being received still lacks (None: reading a prefix)."""
        self.parts: list[memoryview] = []
        self.compressed = 0
        self.ended = False
        self.waiter: asyncio.Future[None] | None = None
        self.decompress: Callable[[bytes], bytes] | None = None
        self.send_window = connection.peer_initial_window
        self.pending: collections.deque[memoryview] = collections.deque()
        """Answer bytes waiting for the client's windows, as views of the messages."""
        self.pending_size = 0
        self.pending_end: bytes | None = None
        self.drained: asyncio.Future[None] | None = None
        self.headers_sent = False
        self.initial_metadata: Metadata = ()
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.consumed = 0
        """Request bytes since this stream's window was last topped up."""

    # -- the Call protocol the context uses --------------------------------------

    @property
    def metadata(self) -> Metadata:
        """The call's metadata, read off its headers when first asked for."""
        if self.invocation_metadata is None:
            self.invocation_metadata = invocation_metadata(self.headers)
        return self.invocation_metadata

    def now(self) -> float:
        return self.connection.loop.time()

    def send_initial_metadata(self, metadata: Metadata) -> None:
        if self.headers_sent:
            raise RuntimeError("initial metadata was sent already")
        self.initial_metadata = metadata

    async def read(self) -> bytes | None:
        """The next request message; None after the client's last."""
        while not self.messages:
            if self.ended:
                return None
            self.waiter = self.connection.loop.create_future()
            await self.waiter
        return self.messages.popleft()

    async def write(self, message: bytes) -> None:
        if self.closed:
            raise asyncio.CancelledError()
        head = self._head()
        if head:
            self.connection.write(head)
        connection = self.connection
        connection.send_data(self, _prefix(len(message)), message)
        while not self.closed:
            if self.pending_size > WRITE_BUFFER:
                self.drained = connection.loop.create_future()
                await self.drained
            elif connection.resumed is not None:
                await connection.resumed
            else:
                break

    # -- used by the connection --------------------------------------------------

    def received(self, data: bytes | memoryview, end: bool) -> None:
        """Request bytes arrived; complete messages go to ``messages``.

        A message arriving over many frames is kept as views of them and joined once
        when whole: one copy, where growing a buffer would copy it again and again.
        """
        if self.need is None and not self.prefix and len(data) >= 5:
            length = int.from_bytes(data[1:5], "big")
            if len(data) == 5 + length:  # the usual call: one frame, one message
                self._message(data[0], bytes(data[5:]))
                self._arrived(end)
                return
        view = memoryview(data)
        position, size = 0, len(view)
        while True:
            if self.need is None:  # the 5-byte prefix, which may be split too
                take = min(5 - len(self.prefix), size - position)
                self.prefix += view[position : position + take]
                position += take
                if len(self.prefix) < 5:
                    break
                length = int.from_bytes(self.prefix[1:5], "big")
                if length > MAX_MESSAGE:
                    raise _CallError(grpc.StatusCode.RESOURCE_EXHAUSTED, _too_large(length))
                self.compressed = self.prefix[0]
                self.prefix.clear()
                self.need = length
            take = min(self.need, size - position)
            if take:
                self.parts.append(view[position : position + take])
                position += take
                self.need -= take
            if self.need:
                break
            parts, self.parts, self.need = self.parts, [], None
            self._message(self.compressed, b"".join(parts) if len(parts) != 1 else bytes(parts[0]))
        self._arrived(end)

    def _message(self, compressed: int, message: bytes) -> None:
        if compressed:
            if self.decompress is None:
                raise _CallError(
                    grpc.StatusCode.INTERNAL, "Compressed message without a grpc-encoding header"
                )
            try:
                message = self.decompress(message)
            except zlib.error as exc:
                raise _CallError(
                    grpc.StatusCode.INTERNAL, f"Bad compressed message: {exc}"
                ) from exc
        self.messages.append(message)

    def _arrived(self, end: bool) -> None:
        if end:
            self.ended = True
            if self.need is not None or self.prefix:
                raise _CallError(grpc.StatusCode.INTERNAL, "The request ended inside a message")
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _head(self, end_stream_block: bytes = b"") -> bytes:
        """The response's HEADERS frame if not sent yet, else nothing; with
        ``end_stream_block``, a trailers-only response ending the call."""
        if self.headers_sent:
            return b""
        self.headers_sent = True
        self.connection.pings.reset()
        block = RESPONSE_HEADERS
        if self.initial_metadata:
            block += literal_block(metadata_headers(self.initial_metadata))
        if end_stream_block:
            return self._header_frames(block + end_stream_block, end_stream=True)
        return self._header_frames(block, end_stream=False)

    def _header_frames(self, block: bytes, *, end_stream: bool) -> bytes:
        """HEADERS (and CONTINUATION frames, past the client's frame size) for ``block``."""
        limit = self.connection.peer_max_frame
        flags = frames.END_STREAM if end_stream else 0
        if len(block) <= limit:
            return frame(frames.HEADERS, flags | frames.END_HEADERS, self.id, block)
        parts = [block[start : start + limit] for start in range(0, len(block), limit)]
        out = [frame(frames.HEADERS, flags, self.id, parts[0])]
        out += [frame(frames.CONTINUATION, 0, self.id, part) for part in parts[1:-1]]
        out.append(frame(frames.CONTINUATION, frames.END_HEADERS, self.id, parts[-1]))
        return b"".join(out)

    def respond(self, message: bytes) -> None:
        """A unary answer: headers, the message and OK trailers, in one write when the
        client's windows allow."""
        head = self._head()
        connection = self.connection
        size = 5 + len(message)
        trailers = frame(frames.HEADERS, _END, self.id, OK_TRAILERS)
        if (
            not self.pending_size
            and size <= self.send_window
            and size <= connection.send_window
            and size <= connection.peer_max_frame
        ):
            self.send_window -= size
            connection.send_window -= size
            start = head + frames.frame_header(frames.DATA, 0, self.id, size) + _prefix(size - 5)
            if size <= COPY_LIMIT:
                self.close(start + message + trailers)
            else:
                connection.write_pieces([start, message])
                self.close(trailers)
            return
        if head:
            connection.write(head)
        connection.send_data(self, _prefix(len(message)), message)
        self._end(trailers)

    def finish(self, code: grpc.StatusCode, details: str = "", trailing: Metadata = ()) -> None:
        """End the call with ``code``; trailers-only when nothing was sent yet."""
        block = status_headers(code.value[0], details, trailing)
        if not self.headers_sent:
            self.close(self._head(block))
        else:
            self._end(self._header_frames(block, end_stream=True))

    def _end(self, trailers: bytes) -> None:
        """End with ``trailers`` once the queued answer bytes have gone."""
        if self.pending_size:
            self.pending_end = trailers
        else:
            self.close(trailers)

    def close(self, last: bytes) -> None:
        if self.closed:
            return
        self.closed = True
        self.connection.write(last)
        self.connection.forget(self)

    def cancel(self) -> None:
        """The client reset the call or left: stop its handler, send nothing more."""
        if self.closed:
            return
        self.cancelled = self.closed = True
        if self.task is not None:
            self.task.cancel()
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.connection.forget(self)

    def expire(self) -> None:
        """The deadline passed: the handler stops, the client hears DEADLINE_EXCEEDED."""
        if self.closed:
            return
        if self.task is not None:
            self.task.cancel()
        self.finish(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


class _CallError(Exception):
    """A call fails before or outside its handler (bad framing of its messages)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class Connection(asyncio.Protocol):
    """The HTTP/2 server side of one client connection."""

    def __init__(self, server: H2Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer = "unknown"
        self.buffer = bytearray()
        self.preface_seen = False
        self.decoder = HeaderDecoder(MAX_HEADER_BLOCK)
        self.streams: dict[int, Stream] = {}
        self.last_stream = 0
        self.send_window = frames.DEFAULT_WINDOW
        self.peer_initial_window = frames.DEFAULT_WINDOW
        self.peer_max_frame = frames.DEFAULT_MAX_FRAME
        self.consumed = 0
        self.data_left = 0
        """Payload bytes of the DATA frame being received that have not arrived yet."""
        self.data_stream = 0
        self.data_end = False
        self.continuing: tuple[int, int, bytearray] | None = None
        """A header block awaiting CONTINUATION: stream, HEADERS flags, bytes so far."""
        self.out: list[bytes | memoryview] | None = None
        """Frames gathered while one ``data_received`` runs, written together at its end."""
        self.going_away = False
        """No new calls: the server drains (final GOAWAY sent) or the client said GOAWAY."""
        self.drain_stage = 0
        """0 serving; 1 first GOAWAY (2**31-1) and PING sent; 2 final GOAWAY sent."""
        self.eof_sent = False
        self.resumed: asyncio.Future[None] | None = None
        """Set while the transport holds more than :data:`WRITE_HIGH_WATER` bytes;
        done when they have gone (or the connection has)."""
        self.handshake_timer: asyncio.TimerHandle | None = None
        self.lifetime_timers: dict[str, asyncio.TimerHandle] = {}
        """The age, grace and idle timers that are set (``lifetime.py``)."""
        self.last_active = 0.0
        """When the last call ended (loop time), while an idle limit is set."""
        self.pings = PingPolicy(server.keepalive)
        self.reads = 0
        """``data_received`` calls so far: the keepalive pings only a quiet connection."""
        self.reads_at_keepalive = 0

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = writer = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        self.peer = _peer(transport)
        self.server.connections.add(self)
        writer.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.handshake_timer = self.loop.call_later(self.server.handshake_timeout_s, self._abandon)
        lifetime = self.server.lifetime
        if lifetime.age_s is not None:
            age = lifetime.age_s * random.uniform(1 - AGE_JITTER, 1 + AGE_JITTER)
            self.lifetime_timers["age"] = self.loop.call_later(age, self._aged)
        if lifetime.idle_s is not None:
            self.last_active = self.loop.time()
            self.lifetime_timers["idle"] = self.loop.call_later(lifetime.idle_s, self._idle_check)
        if self.server.keepalive.time_s is not None:
            self._await_keepalive()
        writer.write(
            frames.settings(
                {
                    frames.MAX_CONCURRENT_STREAMS: self.server.max_streams,
                    frames.INITIAL_WINDOW_SIZE: frames.MAX_WINDOW,
                    frames.MAX_FRAME_SIZE: MAX_FRAME,
                    frames.MAX_HEADER_LIST_SIZE: MAX_HEADER_BLOCK,
                }
            )
            + frames.window_update(0, _CONNECTION_CREDIT)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
        for timer in self.lifetime_timers.values():
            timer.cancel()
        for stream in list(self.streams.values()):
            stream.cancel()
        self.resume_writing()

    def pause_writing(self) -> None:
        """The client is not taking what it is sent: stop reading what it sends."""
        if self.resumed is None:
            self.resumed = self.loop.create_future()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        resumed, self.resumed = self.resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        """Frames are read off the socket's own bytes (views, never copied here). A DATA
        frame's payload is handed on as it arrives, so a large request is never
        gathered frame by frame; only a partial header or a partial other frame waits
        in :attr:`buffer` for the next read."""
        self.reads += 1
        if not self.preface_seen:
            buffer = self.buffer
            buffer += data
            if len(buffer) < len(frames.PREFACE):
                if not frames.PREFACE.startswith(bytes(buffer)):
                    self._abandon()
                return
            if buffer[: len(frames.PREFACE)] != frames.PREFACE:
                self._abandon()
                return
            data = bytes(buffer[len(frames.PREFACE) :])
            buffer.clear()
            self.preface_seen = True
            if self.handshake_timer is not None:
                self.handshake_timer.cancel()
                self.handshake_timer = None
        view = memoryview(data)
        out: list[bytes | memoryview] = []
        self.out = out
        try:
            position = self._resume(view) if self.buffer else 0
            self._frames(data, view, position)
        except ProtocolError as exc:
            _LOG.debug("HTTP/2 protocol error from %s: %s", self.peer, exc)
            self.out = None
            self._fail(exc.code, str(exc))
            return
        except Exception:  # a defect here must cost one connection, not the server
            _LOG.exception("HTTP/2 connection from %s failed", self.peer)
            self.out = None
            self._fail(frames.INTERNAL_ERROR, "internal error")
            return
        self.out = None
        if out and self.transport is not None:
            if len(out) == 1:
                self.transport.write(out[0])
            else:  # frames, and views of answers a WINDOW_UPDATE let out: not joined
                self.transport.writelines(out)

    def _frames(self, data: bytes, view: memoryview, position: int) -> None:
        """Every frame of ``data`` from ``position``; the start of one it does not hold
        whole goes to the buffer, unless it is a DATA frame, whose payload streams."""
        size = len(view)
        while position < size:
            if self.data_left:  # inside a DATA frame's payload
                take = min(self.data_left, size - position)
                self.data_left -= take
                self._data_part(view[position : position + take])
                position += take
                continue
            if size - position < 9:
                break
            length_kind, flags, stream = _FRAME_HEADER.unpack_from(data, position)
            length = length_kind >> 8
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes", frames.FRAME_SIZE_ERROR)
            kind, stream = length_kind & 0xFF, stream & 0x7FFFFFFF
            start, end = position + 9, position + 9 + length
            if end > size:
                if kind != frames.DATA or flags & frames.PADDED:
                    break
                self._data_start(flags, stream, length)
                position = start
                continue
            position = end
            self._frame(kind, flags, stream, view[start:end])
        if position < size:
            self.buffer += view[position:]

    def _resume(self, view: memoryview) -> int:
        """Complete the frame (or header) an earlier read began, from the start of
        ``view``; return how much of ``view`` it took."""
        buffer = self.buffer
        taken = 0
        if len(buffer) < 9:
            taken = min(9 - len(buffer), len(view))
            buffer += view[:taken]
            if len(buffer) < 9:
                return taken
        length_kind, flags, stream = _FRAME_HEADER.unpack_from(buffer, 0)
        length = length_kind >> 8
        if length > MAX_FRAME:
            raise ProtocolError(f"frame of {length} bytes", frames.FRAME_SIZE_ERROR)
        kind, stream = length_kind & 0xFF, stream & 0x7FFFFFFF
        if kind == frames.DATA and not flags & frames.PADDED and len(buffer) == 9:
            buffer.clear()
            self._data_start(flags, stream, length)
            return taken
        more = min(9 + length - len(buffer), len(view) - taken)
        buffer += view[taken : taken + more]
        taken += more
        if len(buffer) == 9 + length:
            payload = bytes(buffer[9:])
            buffer.clear()
            self._frame(kind, flags, stream, payload)
        return taken

    # -- frames --------------------------------------------------------------------

    def _frame(self, kind: int, flags: int, stream_id: int, data: bytes | memoryview) -> None:
        if self.continuing is not None and kind != frames.CONTINUATION:
            raise ProtocolError("a header block was interrupted")
        if kind == frames.DATA:  # a view of the socket's bytes: a message's parts keep it
            self._data(flags, stream_id, data)
            return
        payload = bytes(data)  # the others are small, and kept as bytes (header blocks)
        if kind == frames.HEADERS:
            self._headers(flags, stream_id, payload)
        elif kind == frames.CONTINUATION:
            self._continuation(flags, stream_id, payload)
        elif kind == frames.WINDOW_UPDATE:
            self._window_update(stream_id, payload)
        elif kind == frames.SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == frames.PING:
            if len(payload) != 8 or stream_id:
                raise ProtocolError("bad PING", frames.FRAME_SIZE_ERROR)
            if not flags & frames.ACK:
                if self.pings.received(self.loop.time(), bool(self.streams)):
                    raise ProtocolError("too_many_pings", frames.ENHANCE_YOUR_CALM)
                self.write(frame(frames.PING, frames.ACK, 0, payload))
            elif payload == _DRAIN_PING:
                self.final_goaway()
            elif payload == _KEEPALIVE_PING:
                self._await_keepalive()
        elif kind == frames.RST_STREAM:
            stream = self.streams.get(stream_id)
            if stream is not None:
                stream.cancel()
        elif kind == frames.GOAWAY:
            self.going_away = True
            self._close_if_idle()
        elif kind == frames.PUSH_PROMISE:
            raise ProtocolError("a client cannot push")
        # PRIORITY and unknown types are ignored, as RFC 9113 asks.

    def _data(self, flags: int, stream_id: int, payload: bytes | memoryview) -> None:
        """A whole DATA frame."""
        self._data_start(flags, stream_id, len(payload))
        self.data_left = 0
        self._data_part(memoryview(payload), frames.unpad(flags, memoryview(payload)))

    def _data_start(self, flags: int, stream_id: int, length: int) -> None:
        """A DATA frame of ``length`` payload bytes begins (its parts follow)."""
        if stream_id == 0 or stream_id > self.last_stream:
            raise ProtocolError("DATA on an idle stream")
        if self.continuing is not None:
            raise ProtocolError("a header block was interrupted")
        self.data_stream = stream_id
        self.data_end = bool(flags & frames.END_STREAM)
        self.data_left = length

    def _data_part(self, part: memoryview, content: memoryview | None = None) -> None:
        """Payload bytes of the current DATA frame (``content``: them less padding);
        the frame's END_STREAM applies with its last part."""
        self.consumed += len(part)
        if self.consumed > _CONNECTION_CREDIT // 2:
            self.write(frames.window_update(0, self.consumed))
            self.consumed = 0
        stream = self.streams.get(self.data_stream)
        if stream is None:
            return  # a call that ended (or was refused) already: its data is dropped
        end = self.data_end and not self.data_left
        if not end:  # a long request stream must not run out of window
            stream.consumed += len(part)
            if stream.consumed > _CONNECTION_CREDIT // 2:
                self.write(frames.window_update(stream.id, stream.consumed))
                stream.consumed = 0
        self._deliver(stream, part if content is None else content, end)

    def _deliver(self, stream: Stream, data: bytes | memoryview, end: bool) -> None:
        """Hand request bytes to ``stream``; a call whose messages are malformed ends
        with its status and a reset, and the connection goes on."""
        try:
            stream.received(data, end)
        except _CallError as exc:
            if stream.task is not None:
                stream.task.cancel()
            stream.finish(exc.code, exc.details)
            self.write(frames.rst_stream(stream.id, frames.NO_ERROR))

    def _headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        block = frames.unpad(flags, payload)
        if flags & frames.PRIORITY_FLAG:
            block = block[5:]
        if flags & frames.END_HEADERS:
            self._header_block(stream_id, flags, block)
        else:
            self.continuing = (stream_id, flags, bytearray(block))

    def _continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        if self.continuing is None or self.continuing[0] != stream_id:
            raise ProtocolError("CONTINUATION without its HEADERS")
        block = self.continuing[2]
        block += payload
        if len(block) > MAX_HEADER_BLOCK:
            raise ProtocolError("header block too large", frames.ENHANCE_YOUR_CALM)
        if flags & frames.END_HEADERS:
            _, first_flags, _ = self.continuing
            self.continuing = None
            self._header_block(stream_id, first_flags, bytes(block))

    def _header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        headers = self.decoder.decode(block)
        existing = self.streams.get(stream_id)
        if existing is not None:  # trailers from the client end its side
            self._deliver(existing, b"", True)
            return
        if stream_id % 2 == 0 or stream_id <= self.last_stream:
            raise ProtocolError(f"HEADERS opening stream {stream_id}")
        self.last_stream = stream_id
        stream = Stream(stream_id, self, headers)
        if self.going_away or len(self.streams) >= self.server.max_streams:
            self.write(frames.rst_stream(stream_id, frames.REFUSED_STREAM))
            return
        self.streams[stream_id] = stream
        self.server.start_call(stream, headers, bool(flags & frames.END_STREAM))

    def _window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolError("bad WINDOW_UPDATE", frames.FRAME_SIZE_ERROR)
        increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if stream_id == 0:
            self.send_window += increment
            if self.send_window > frames.MAX_WINDOW:
                raise ProtocolError("window past 2**31-1", frames.FLOW_CONTROL_ERROR)
            for waiting in list(self.streams.values()):
                if waiting.pending_size:
                    self.flush(waiting)
            return
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.send_window += increment
            self.flush(stream)

    def _settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise ProtocolError("SETTINGS on a stream")
        if flags & frames.ACK:
            return
        if len(payload) % 6:
            raise ProtocolError("bad SETTINGS", frames.FRAME_SIZE_ERROR)
        for offset in range(0, len(payload), 6):
            key = int.from_bytes(payload[offset : offset + 2], "big")
            value = int.from_bytes(payload[offset + 2 : offset + 6], "big")
            if key == frames.INITIAL_WINDOW_SIZE:
                if value > frames.MAX_WINDOW:
                    raise ProtocolError("initial window past 2**31-1", frames.FLOW_CONTROL_ERROR)
                delta = value - self.peer_initial_window
                self.peer_initial_window = value
                for stream in self.streams.values():
                    stream.send_window += delta
            elif key == frames.MAX_FRAME_SIZE:
                if not frames.DEFAULT_MAX_FRAME <= value <= 2**24 - 1:
                    raise ProtocolError("bad MAX_FRAME_SIZE")
                self.peer_max_frame = value
        self.write(frame(frames.SETTINGS, frames.ACK, 0))
        for stream in list(self.streams.values()):
            if stream.pending_size:
                self.flush(stream)

    # -- sending ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.eof_sent:
            return  # half-closed: nothing more goes out
        if self.out is not None:
            self.out.append(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write_pieces(self, pieces: list[bytes | memoryview]) -> None:
        """Write ``pieces`` in order without joining them (``writelines``: one
        ``writev`` on uvloop), so large answers are not copied here."""
        if self.eof_sent:
            return
        if self.out is not None:
            self.out.extend(pieces)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(pieces)

    def send_data(self, stream: Stream, *data: bytes) -> None:
        """Queue ``data`` (immutable bytes, held as views) as the stream's DATA and send
        what the windows allow."""
        for part in data:
            stream.pending.append(memoryview(part))
            stream.pending_size += len(part)
        self.flush(stream)

    def flush(self, stream: Stream) -> None:
        pending = stream.pending
        pieces: list[bytes | memoryview] = []
        while stream.pending_size and stream.send_window > 0 and self.send_window > 0:
            size = min(stream.pending_size, stream.send_window, self.send_window)
            size = min(size, self.peer_max_frame)
            pieces.append(frames.frame_header(frames.DATA, 0, stream.id, size))
            left = size
            while left:
                chunk = pending[0]
                if len(chunk) <= left:
                    pieces.append(chunk)
                    pending.popleft()
                    left -= len(chunk)
                else:
                    pieces.append(chunk[:left])
                    pending[0] = chunk[left:]
                    left = 0
            stream.pending_size -= size
            stream.send_window -= size
            self.send_window -= size
        if pieces:
            self.pings.reset()
            self.write_pieces(pieces)
        if not stream.pending_size and stream.pending_end is not None:
            last, stream.pending_end = stream.pending_end, None
            stream.close(last)
        drained = stream.drained
        if drained is not None and not drained.done() and stream.pending_size <= WRITE_BUFFER:
            drained.set_result(None)

    def forget(self, stream: Stream) -> None:
        self.streams.pop(stream.id, None)
        if stream.timer is not None:
            stream.timer.cancel()
        self.server.end_call()
        if not self.streams and "idle" in self.lifetime_timers:
            self.last_active = self.loop.time()
        self._close_if_idle()

    # -- lifetime (lifetime.py) --------------------------------------------------------

    def _aged(self) -> None:
        """The connection reached its age: drain it; with a grace, end it after that."""
        self.go_away()
        grace = self.server.lifetime.age_grace_s
        if grace is not None:
            self.lifetime_timers["grace"] = self.loop.call_later(grace, self._grace_over)

    def _grace_over(self) -> None:
        """Calls the age's drain let run had their grace: they end UNAVAILABLE, as
        grpcio's clients see a connection closed under them, and the connection closes."""
        self.final_goaway()
        for stream in list(self.streams.values()):
            stream.finish(grpc.StatusCode.UNAVAILABLE, "max connection age grace passed")
        if self.transport is not None:
            self.transport.close()

    def _idle_check(self) -> None:
        """Drain the connection once it has had no call open for the idle limit."""
        idle_s = self.server.lifetime.idle_s
        if idle_s is None or self.drain_stage:
            return
        quiet = self.loop.time() - self.last_active
        if not self.streams and quiet >= idle_s:
            self.go_away()
            return
        wait = idle_s if self.streams else idle_s - quiet
        self.lifetime_timers["idle"] = self.loop.call_later(wait, self._idle_check)

    # -- keepalive (keepalive.py) -----------------------------------------------------

    def _await_keepalive(self) -> None:
        """(Re)start the wait for a keepalive ping; a PING ACK stops the one before."""
        timer = self.lifetime_timers.get("keepalive")
        if timer is not None:
            timer.cancel()
        time_s = self.server.keepalive.time_s
        if time_s is None:
            return
        self.reads_at_keepalive = self.reads
        self.lifetime_timers["keepalive"] = self.loop.call_later(time_s, self._keepalive)

    def _keepalive(self) -> None:
        """Ping a connection that sent nothing for the keepalive time (while a call is
        open, unless permitted without), and close it if no ACK comes in time."""
        transport = self.transport
        if self.drain_stage or transport is None or transport.is_closing():
            return
        keepalive = self.server.keepalive
        quiet = self.reads == self.reads_at_keepalive
        if not quiet or not (self.streams or keepalive.permit_without_calls):
            self._await_keepalive()
            return
        self.write(frame(frames.PING, 0, 0, _KEEPALIVE_PING))
        self.lifetime_timers["keepalive"] = self.loop.call_later(
            keepalive.timeout_s, self._keepalive_missed
        )

    def _keepalive_missed(self) -> None:
        """No ACK to the keepalive PING: the client is gone (or not reading); close."""
        _LOG.info("Closing the gRPC connection from %s: no keepalive PING ACK", self.peer)
        if self.transport is not None:
            self.transport.close()

    # -- ending ----------------------------------------------------------------------

    def go_away(self) -> None:
        """Start a graceful drain (RFC 9113, 6.8): a GOAWAY naming no stream limit and a
        PING; once the client acknowledges the PING (it has seen the GOAWAY, and every
        call it started before that has arrived), the final GOAWAY with the last stream
        taken. Calls up to it are answered; the socket closes when they are done."""
        if self.drain_stage:
            return
        self.drain_stage = 1
        self.write(
            frames.goaway(frames.MAX_WINDOW, frames.NO_ERROR)
            + frame(frames.PING, 0, 0, _DRAIN_PING)
        )
        self.loop.call_later(DRAIN_PING_WAIT_S, self.final_goaway)

    def final_goaway(self) -> None:
        """The drain's second GOAWAY: no call after the last one taken."""
        if self.drain_stage != 1:
            return
        self.drain_stage = 2
        self.going_away = True
        self.write(frames.goaway(self.last_stream, frames.NO_ERROR))
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        """Once no call is open and no new one may start: half-close, so the client's
        last frames are still read, then close after :data:`LINGER_S` at the latest."""
        transport = self.transport
        if not self.going_away or self.streams or transport is None or self.eof_sent:
            return
        if self.out:
            transport.writelines(self.out)
            self.out.clear()
        if transport.is_closing():
            return
        if transport.can_write_eof():
            self.eof_sent = True
            try:
                transport.write_eof()
            except OSError:  # the client left first (its close not yet delivered to us)
                transport.close()
                return
            self.loop.call_later(LINGER_S, transport.close)
        else:  # TLS cannot half-close
            transport.close()

    def _fail(self, code: int, message: str) -> None:
        self.write(frames.goaway(self.last_stream, code, message.encode()[:256]))
        for stream in list(self.streams.values()):
            stream.cancel()
        if self.transport is not None:
            self.transport.close()

    def _abandon(self) -> None:
        """Not HTTP/2 at all: close without a word."""
        if self.transport is not None:
            self.transport.close()


def _prefix(length: int) -> bytes:
    """A gRPC message's 5-byte prefix: not compressed, big-endian length."""
    return b"\0" + length.to_bytes(4, "big")


def _too_large(length: int) -> str:
    return f"Received message larger than max ({length} vs. {MAX_MESSAGE})"


def _peer(transport: asyncio.BaseTransport) -> str:
    address = transport.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"ipv6:[{host}]:{port}" if ":" in str(host) else f"ipv4:{host}:{port}"
    return f"unix:{address}" if address else "unix:"


async def run_call(stream: Stream, handler: grpc.RpcMethodHandler) -> None:
    """Run ``handler`` for ``stream``: read its request(s), call the behaviour, answer."""
    context = ServicerContext(stream, handler.response_serializer, handler.request_deserializer)
    deserialize = handler.request_deserializer or (lambda raw: raw)
    serialize = handler.response_serializer or (lambda message: message)
    try:
        if handler.unary_unary is not None or handler.unary_stream is not None:
            raw = await stream.read()
            if raw is None:
                stream.finish(grpc.StatusCode.INTERNAL, "The call sent no request message")
                return
            context.request_bytes = len(raw)
            argument: Any = deserialize(raw)
        else:
            argument = _requests(stream, deserialize)
        behavior = (
            handler.unary_unary or handler.unary_stream or handler.stream_unary
            or handler.stream_stream
        )  # fmt: skip
        result = behavior(argument, context)
        if handler.unary_unary is not None or handler.stream_unary is not None:
            response = await result if inspect.isawaitable(result) else result
            code = context.code
            if code is not None and code != grpc.StatusCode.OK:
                stream.finish(code, context.details, context.trailing_metadata)
            elif response is None:
                stream.finish(grpc.StatusCode.INTERNAL, "The handler returned no response")
            elif context.trailing_metadata or context.details:
                await stream.write(serialize(response))
                stream.finish(grpc.StatusCode.OK, context.details, context.trailing_metadata)
            else:
                stream.respond(serialize(response))
            return
        if inspect.isasyncgen(result):
            async for response in result:
                await stream.write(serialize(response))
        elif inspect.isawaitable(result):
            await result
        else:
            for response in result:
                await stream.write(serialize(response))
        code = context.code or grpc.StatusCode.OK
        stream.finish(code, context.details, context.trailing_metadata)
    except grpc.aio.AbortError:
        stream.finish(
            context.code or grpc.StatusCode.UNKNOWN, context.details, context.trailing_metadata
        )
    except asyncio.CancelledError:
        pass  # reset, deadline or shutdown: whoever cancelled answered already
    except Exception as exc:  # the handler's own failure: UNKNOWN, as grpcio reports it
        _LOG.exception("gRPC handler for stream %d raised", stream.id)
        stream.finish(grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}")
    finally:
        if not stream.closed and stream.pending_end is None:  # ended without an answer
            stream.cancel()
        for callback in context.callbacks:
            try:
                callback()
            except Exception:
                _LOG.exception("a gRPC call's callback raised")


async def _requests(stream: Stream, deserialize: Callable[[bytes], Any]) -> AsyncIterator[Any]:
    while True:
        raw = await stream.read()
        if raw is None:
            return
        yield deserialize(raw)


def apply_headers(stream: Stream, headers: list[Header]) -> tuple[str, grpc.StatusCode, str]:
    """Read the call's ``:path``, ``grpc-timeout`` and ``grpc-encoding`` into ``stream``;
    returns the method and, when the call cannot go on, the status to end it with."""
    method = ""
    content_type = b""
    for name, value in headers:
        if name == b":path":
            method = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value
        elif name == b"grpc-timeout":
            timeout = grpc_timeout_s(value)
            if timeout is not None:
                stream.deadline = stream.now() + timeout
        elif name == b"grpc-encoding":
            decompress = _ENCODINGS.get(value)
            if decompress is None:
                return (
                    method,
                    grpc.StatusCode.UNIMPLEMENTED,
                    (f"Compression algorithm '{value.decode('latin-1')}' is not supported"),
                )
            stream.decompress = decompress
    if not content_type.startswith(b"application/grpc"):
        return method, grpc.StatusCode.UNKNOWN, f"Unsupported content-type {content_type!r}"
    return method, grpc.StatusCode.OK, ""
