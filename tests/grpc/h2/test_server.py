"""The h2 gRPC server against grpcio's client and against raw HTTP/2 frames.

grpcio's client checks what a user sees (answers, statuses, deadlines, metadata,
streams, compression); raw frames check what grpcio's client never does on its own
(a tiny receive window, pings, a broken preface, oversized frames, split header
blocks, resets).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import hpack
import pytest

from tensorserve.grpc.h2 import frames
from tensorserve.grpc.h2.connection import WRITE_BUFFER, WRITE_HIGH_WATER, Connection
from tensorserve.grpc.h2.keepalive import Keepalive
from tensorserve.grpc.h2.lifetime import Lifetime
from tensorserve.grpc.h2.server import H2Server
from tests.support.waiting import wait_until

SERVICE = "t.T"
_SERVERS: dict[int, H2Server] = {}
"""The module's servers by port, to look at their connections."""


class Handlers:
    """Test behaviours, with what they saw."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.callbacks = threading.Event()

    async def echo(self, request: bytes, context: Any) -> bytes:
        return request

    async def slow(self, request: bytes, context: Any) -> bytes:
        context.add_callback(self.callbacks.set)
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b""

    async def fail(self, request: bytes, context: Any) -> bytes:
        raise ValueError("boom")

    async def abort(self, request: bytes, context: Any) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing", (("x-why", "gone"),))
        return b""

    async def big_trailer(self, request: bytes, context: Any) -> bytes:
        await context.abort(grpc.StatusCode.INTERNAL, "big", (("x-big", "v" * 40_000),))
        return b""

    async def metadata(self, request: bytes, context: Any) -> bytes:
        context.set_trailing_metadata((("x-trailer", "t"),))
        remaining = context.time_remaining()
        seen = dict(context.invocation_metadata())
        # grpcio's client rounds its timeout up a little when it writes grpc-timeout.
        return f"{seen.get('x-in')}|{remaining is not None and 29 < remaining <= 31}".encode()

    async def size(self, request: bytes, context: Any) -> bytes:
        return str(context.request_bytes).encode()

    async def count(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        for index in range(int(request)):
            yield str(index).encode() * 1000

    async def total(self, requests: AsyncIterator[bytes], context: Any) -> bytes:
        return str(sum([len(request) async for request in requests])).encode()


@pytest.fixture(scope="module")
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture(scope="module")
def port(handlers: Handlers) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    server = H2Server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "Echo": grpc.unary_unary_rpc_method_handler(handlers.echo),
                    "Slow": grpc.unary_unary_rpc_method_handler(handlers.slow),
                    "Fail": grpc.unary_unary_rpc_method_handler(handlers.fail),
                    "Abort": grpc.unary_unary_rpc_method_handler(handlers.abort),
                    "Metadata": grpc.unary_unary_rpc_method_handler(handlers.metadata),
                    "BigTrailer": grpc.unary_unary_rpc_method_handler(handlers.big_trailer),
                    "Size": grpc.unary_unary_rpc_method_handler(handlers.size),
                    "Count": grpc.unary_stream_rpc_method_handler(handlers.count),
                    "Total": grpc.stream_unary_rpc_method_handler(handlers.total),
                },
            )
        ]
    )
    bound = server.add_insecure_port("127.0.0.1:0")
    _SERVERS[bound] = server
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield bound
    asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(scope="module")
def channel(port: int) -> Iterator[grpc.Channel]:
    options = [("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as opened:
        yield opened


def unary(channel: grpc.Channel, name: str) -> Any:
    return channel.unary_unary(f"/{SERVICE}/{name}")


def test_unary_calls_answer_with_the_handlers_bytes(channel: grpc.Channel) -> None:
    for size in (0, 1, 70_000, 5_000_000):  # past one frame, one window, 4 MiB
        payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        assert unary(channel, "Echo")(payload, timeout=30) == payload


def test_many_calls_at_once_on_one_connection(channel: grpc.Channel) -> None:
    futures = [unary(channel, "Echo").future(str(i).encode(), timeout=30) for i in range(200)]
    assert [future.result() for future in futures] == [str(i).encode() for i in range(200)]


def test_an_unknown_method_is_unimplemented(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        unary(channel, "Nope")(b"", timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_handler_that_raises_is_unknown_and_the_server_goes_on(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        unary(channel, "Fail")(b"", timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNKNOWN
    assert "boom" in str(raised.value.details())
    assert unary(channel, "Echo")(b"still here", timeout=10) == b"still here"


def test_abort_sends_its_code_details_and_trailing_metadata(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        unary(channel, "Abort")(b"", timeout=10)
    error: Any = raised.value
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "no such thing")
    assert ("x-why", "gone") in error.trailing_metadata()


def test_metadata_and_the_deadline_reach_the_handler(channel: grpc.Channel) -> None:
    answer, call = unary(channel, "Metadata").with_call(
        b"", timeout=30, metadata=(("x-in", "hello"),)
    )
    assert answer == b"hello|True"
    assert ("x-trailer", "t") in call.trailing_metadata()


def test_a_passed_deadline_ends_the_call_and_cancels_the_handler(
    channel: grpc.Channel, handlers: Handlers
) -> None:
    handlers.cancelled.clear()
    with pytest.raises(grpc.RpcError) as raised:
        unary(channel, "Slow")(b"", timeout=0.2)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert handlers.cancelled.wait(10)
    assert handlers.callbacks.wait(10)


def test_server_streaming_and_client_streaming(channel: grpc.Channel) -> None:
    answers = list(channel.unary_stream(f"/{SERVICE}/Count")(b"50", timeout=30))
    assert answers == [str(i).encode() * 1000 for i in range(50)]
    total = channel.stream_unary(f"/{SERVICE}/Total")(iter([b"ab", b"c" * 70_000]), timeout=30)
    assert total == b"70002"


def test_gzip_compressed_requests_are_read(port: int) -> None:
    with grpc.insecure_channel(
        f"127.0.0.1:{port}", compression=grpc.Compression.Gzip
    ) as compressed:
        assert unary(compressed, "Echo")(b"z" * 10_000, timeout=10) == b"z" * 10_000
        # The handler's context counts the message as decoded, not as sent.
        assert unary(compressed, "Size")(b"z" * 10_000, timeout=10) == b"10000"


def test_the_context_gives_the_request_messages_size(channel: grpc.Channel) -> None:
    # What the servicers size a request by, instead of protobuf re-encoding it to count.
    for size in (0, 70_000):
        assert unary(channel, "Size")(b"q" * size, timeout=10) == str(size).encode()


# -- raw frames -------------------------------------------------------------------------


def grpc_message(body: bytes) -> bytes:
    """``body`` as one gRPC message: uncompressed flag, big-endian length, bytes."""
    return b"\0" + len(body).to_bytes(4, "big") + body


class RawClient:
    """A bare HTTP/2 client: frames out, frames in, nothing automatic."""

    def __init__(self, port: int, settings: dict[int, int] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.buffer = b""
        self.sock.sendall(frames.PREFACE + frames.settings(settings or {}))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, stream: int, path: str, body: bytes, **extra: str) -> bytes:
        return self.headers(stream, path, **extra) + frames.frame(
            frames.DATA, frames.END_STREAM, stream, grpc_message(body)
        )

    def headers(self, stream: int, path: str, **extra: str) -> bytes:
        """A call's HEADERS frame alone (its DATA to be sent by the test)."""
        headers = [
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "x"), ("content-type", "application/grpc"), ("te", "trailers"),
            *extra.items(),
        ]  # fmt: skip
        block = self.encoder.encode(headers)
        return frames.frame(frames.HEADERS, frames.END_HEADERS, stream, block)

    def next_frame(self) -> tuple[int, int, int, bytes]:
        while True:
            if len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) >= 9 + length:
                    kind, flags = self.buffer[3], self.buffer[4]
                    stream = int.from_bytes(self.buffer[5:9], "big")
                    payload = self.buffer[9 : 9 + length]
                    self.buffer = self.buffer[9 + length :]
                    return kind, flags, stream, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buffer += chunk

    def frames_until(self, kind: int, stream: int, flags: int = 0) -> list[tuple[int, int, bytes]]:
        """Frames (kind, flags, payload) of ``stream`` up to one of ``kind`` with ``flags``."""
        seen = []
        while True:
            got_kind, got_flags, got_stream, payload = self.next_frame()
            if got_stream == stream:
                seen.append((got_kind, got_flags, payload))
                if got_kind == kind and got_flags & flags == flags:
                    return seen

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def serving(
    methods: dict[str, grpc.RpcMethodHandler], **options: Any
) -> Iterator[tuple[int, H2Server, asyncio.AbstractEventLoop]]:
    """A server of its own for one test (``options`` go to H2Server), on a loop thread;
    yields its port, the server and the loop. Stopped at the end."""
    loop = asyncio.new_event_loop()
    server = H2Server(**options)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, methods)])
    port = server.add_insecure_port("127.0.0.1:0")
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port, server, loop
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_an_answer_waits_for_the_clients_window(port: int) -> None:
    client = RawClient(port, {frames.INITIAL_WINDOW_SIZE: 10})
    body = b"y" * 100
    client.send(client.request(1, f"/{SERVICE}/Echo", body))
    data = b""
    while len(data) < 10:
        kind, _, stream, payload = client.next_frame()
        if kind == frames.DATA and stream == 1:
            data += payload
    assert data == grpc_message(body)[:10]
    client.send(frames.window_update(1, 1000))
    rest = client.frames_until(frames.HEADERS, 1, frames.END_STREAM)
    data += b"".join(payload for kind, _, payload in rest if kind == frames.DATA)
    assert data[5:] == body
    assert (b"grpc-status", b"0") in client.decoder.decode(rest[-1][2], raw=True)
    client.close()


def test_a_ping_is_answered(port: int) -> None:
    client = RawClient(port)
    client.send(frames.frame(frames.PING, 0, 0, b"12345678"))
    while True:
        kind, flags, _, payload = client.next_frame()
        if kind == frames.PING:
            assert (flags, payload) == (frames.ACK, b"12345678")
            break
    client.close()


def test_a_header_block_split_over_continuation_frames(port: int) -> None:
    client = RawClient(port)
    whole = client.request(1, f"/{SERVICE}/Echo", b"split")
    length = int.from_bytes(whole[:3], "big")
    block, data = whole[9 : 9 + length], whole[9 + length :]
    client.send(
        frames.frame(frames.HEADERS, 0, 1, block[:5])
        + frames.frame(frames.CONTINUATION, 0, 1, block[5:10])
        + frames.frame(frames.CONTINUATION, frames.END_HEADERS, 1, block[10:])
        + data
    )
    got = client.frames_until(frames.HEADERS, 1, frames.END_STREAM)
    assert b"".join(payload for kind, _, payload in got if kind == frames.DATA)[5:] == b"split"
    client.close()


def test_a_header_block_past_the_clients_frame_size_goes_in_continuations(port: int) -> None:
    client = RawClient(port)
    client.send(client.request(1, f"/{SERVICE}/BigTrailer", b""))
    got = client.frames_until(frames.CONTINUATION, 1, frames.END_HEADERS)
    assert [kind for kind, _, _ in got] == [frames.HEADERS] + [frames.CONTINUATION] * 2
    assert all(len(payload) <= frames.DEFAULT_MAX_FRAME for _, _, payload in got)
    headers = dict(client.decoder.decode(b"".join(payload for _, _, payload in got), raw=True))
    assert (headers[b"grpc-status"], headers[b"x-big"]) == (b"13", b"v" * 40_000)
    client.close()


def test_a_compressed_message_without_an_encoding_ends_that_call_only(port: int) -> None:
    client = RawClient(port)
    request = bytearray(client.request(1, f"/{SERVICE}/Echo", b"abc"))
    request[request.index(b"\0\0\0\0\x03abc")] = 1  # the message's compressed flag
    client.send(bytes(request))
    got = client.frames_until(frames.HEADERS, 1, frames.END_STREAM)
    assert (b"grpc-status", b"13") in client.decoder.decode(got[-1][2], raw=True)
    client.send(client.request(3, f"/{SERVICE}/Echo", b"next"))
    got = client.frames_until(frames.HEADERS, 3, frames.END_STREAM)
    assert b"".join(payload for kind, _, payload in got if kind == frames.DATA)[5:] == b"next"
    client.close()


def test_a_reset_cancels_the_handler(port: int, handlers: Handlers) -> None:
    handlers.started.clear()
    handlers.cancelled.clear()
    client = RawClient(port)
    client.send(client.request(1, f"/{SERVICE}/Slow", b""))
    assert handlers.started.wait(10)
    client.send(frames.rst_stream(1, frames.CANCEL))
    assert handlers.cancelled.wait(10)
    client.send(client.request(3, f"/{SERVICE}/Echo", b"after"))
    got = client.frames_until(frames.HEADERS, 3, frames.END_STREAM)
    assert b"".join(payload for kind, _, payload in got if kind == frames.DATA)[5:] == b"after"
    client.close()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frames.frame(frames.DATA, 0, 0, b"x" * 10), frames.PROTOCOL_ERROR),
        ((2**20 + 1).to_bytes(3, "big") + b"\0\0\0\0\0\0", frames.FRAME_SIZE_ERROR),
        (frames.frame(frames.CONTINUATION, frames.END_HEADERS, 1, b""), frames.PROTOCOL_ERROR),
        (frames.frame(frames.HEADERS, frames.END_HEADERS, 2, b"\x82"), frames.PROTOCOL_ERROR),
        (
            frames.frame(frames.HEADERS, frames.END_HEADERS, 1, b"\xff\xff\xff\xff"),
            frames.COMPRESSION_ERROR,
        ),
    ],
    ids=["data-on-0", "frame-too-large", "lone-continuation", "even-stream", "bad-hpack"],
)
def test_protocol_errors_end_the_connection_with_goaway(port: int, data: bytes, code: int) -> None:
    client = RawClient(port)
    client.send(data)
    while True:
        kind, _, _, payload = client.next_frame()
        if kind == frames.GOAWAY:
            assert int.from_bytes(payload[4:8], "big") == code
            break
    with pytest.raises((EOFError, ConnectionError)):
        while True:
            client.next_frame()
    client.close()


def test_a_client_that_does_not_speak_http2_is_closed(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    assert frames.GOAWAY not in received[3:4]  # only the server's SETTINGS, then EOF
    sock.close()


def test_a_drain_sends_two_goaways_answers_what_it_took_and_refuses_the_rest() -> None:
    """RFC 9113's graceful shutdown: GOAWAY(2**31-1) and a PING; after the ACK the final
    GOAWAY names the last call taken; calls up to it are answered, later ones refused,
    and the socket half-closes once the answers are out."""
    release = asyncio.Event()

    async def held(request: bytes, context: Any) -> bytes:
        await release.wait()
        return request

    methods = {"Held": grpc.unary_unary_rpc_method_handler(held)}
    with serving(methods) as (port, server, loop), contextlib.closing(RawClient(port)) as client:
        client.send(client.request(1, f"/{SERVICE}/Held", b"first"))
        client.frames_until(frames.SETTINGS, 0)  # the server's preface has arrived
        stopped = asyncio.run_coroutine_threadsafe(server.stop(10), loop)
        kind, _, _, payload = client.next_frame()
        while kind != frames.GOAWAY:
            kind, _, _, payload = client.next_frame()
        assert int.from_bytes(payload[:4], "big") == frames.MAX_WINDOW
        kind, flags, _, ping = client.next_frame()
        assert (kind, flags) == (frames.PING, 0)
        # A call sent before the client saw the GOAWAY is still taken...
        client.send(client.request(3, f"/{SERVICE}/Held", b"second"))
        client.send(frames.frame(frames.PING, frames.ACK, 0, ping))
        kind, _, _, payload = client.next_frame()
        assert kind == frames.GOAWAY and int.from_bytes(payload[:4], "big") == 3
        # ...one after the final GOAWAY is refused.
        client.send(client.request(5, f"/{SERVICE}/Held", b"late"))
        assert client.frames_until(frames.RST_STREAM, 5)[-1][2] == (
            frames.REFUSED_STREAM.to_bytes(4, "big")
        )
        loop.call_soon_threadsafe(release.set)
        answers = {}
        for stream in (1, 3):
            got = client.frames_until(frames.HEADERS, stream, frames.END_STREAM)
            answers[stream] = b"".join(p for k, _, p in got if k == frames.DATA)[5:]
        assert answers == {1: b"first", 3: b"second"}
        stopped.result(10)
        with pytest.raises((EOFError, ConnectionError)):
            while True:
                client.next_frame()


def _write_buffers(server: H2Server) -> int:
    """Bytes ``server`` holds for its clients' sockets, on every connection."""
    return sum(
        connection.transport.get_write_buffer_size()
        for connection in server.connections
        if connection.transport is not None
    )


def test_a_client_that_floods_pings_and_never_reads_is_not_buffered_for() -> None:
    """Each PING is answered, but once the answers back up the server stops reading: the
    flood waits in the kernel's buffers instead of growing the server's memory. (With
    no limit on ping strikes: by default the third early PING ends the connection.)"""
    with (
        serving({}, keepalive=Keepalive(max_ping_strikes=0)) as (port, server, _),
        contextlib.closing(RawClient(port)) as client,
    ):
        client.sock.settimeout(2)
        pings = frames.frame(frames.PING, 0, 0, b"flooding") * 4096  # 68 KiB
        sent = 0
        with pytest.raises(TimeoutError):
            while sent < 64 << 20:
                client.sock.sendall(pings)
                sent += len(pings)
        assert _write_buffers(server) <= 2 * WRITE_HIGH_WATER


def test_a_connection_that_never_sends_the_preface_is_closed() -> None:
    with serving({}, handshake_timeout_s=0.2) as (port, _, _):
        talking = RawClient(port)  # sends the preface at once
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        received = b""
        while chunk := silent.recv(65536):  # the server's SETTINGS, then EOF
            received += chunk
        assert received[3] == frames.SETTINGS
        silent.close()
        # Past the timeout, the connection that sent its preface is still served.
        talking.send(frames.frame(frames.PING, 0, 0, b"p" * 8))
        while talking.next_frame()[0] != frames.PING:
            pass
        talking.close()


def test_a_stream_to_a_client_that_does_not_read_waits_instead_of_buffering(port: int) -> None:
    """Windows wide open, nothing read: the streaming handler is held once the transport
    is full, so the answer never piles up in the server."""
    client = RawClient(port, {frames.INITIAL_WINDOW_SIZE: frames.MAX_WINDOW})
    client.send(frames.window_update(0, frames.MAX_WINDOW - frames.DEFAULT_WINDOW))
    client.send(client.request(1, f"/{SERVICE}/Count", b"200000"))  # ~1 GB if unheld
    connections = _SERVERS[port].connections
    wait_until(lambda: any(c.resumed is not None for c in connections), timeout=10)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # it must stay bounded, not just start bounded
        assert _write_buffers(_SERVERS[port]) <= 2 * WRITE_HIGH_WATER + WRITE_BUFFER
    client.close()


def test_a_large_answer_within_the_windows_goes_out_as_one_data_frame(port: int) -> None:
    """Past the copy limit the answer is written as views, unjoined; the client must
    still see one DATA frame holding exactly the message."""
    settings = {frames.INITIAL_WINDOW_SIZE: frames.MAX_WINDOW, frames.MAX_FRAME_SIZE: 2**24 - 1}
    client = RawClient(port, settings)
    client.send(frames.window_update(0, frames.MAX_WINDOW - frames.DEFAULT_WINDOW))
    body = bytes(range(256)) * 2048  # 512 KiB, in one request frame too
    client.send(client.request(1, f"/{SERVICE}/Echo", body))
    got = client.frames_until(frames.HEADERS, 1, frames.END_STREAM)
    data = [payload for kind, _, payload in got if kind == frames.DATA]
    assert len(data) == 1
    assert data[0] == grpc_message(body)
    client.close()


def _wide_open(port: int) -> RawClient:
    """A raw client whose windows let any answer through at once."""
    client = RawClient(port, {frames.INITIAL_WINDOW_SIZE: frames.MAX_WINDOW})
    client.send(frames.window_update(0, frames.MAX_WINDOW - frames.DEFAULT_WINDOW))
    return client


def _echoed(client: RawClient, stream: int) -> bytes:
    got = client.frames_until(frames.HEADERS, stream, frames.END_STREAM)
    return b"".join(payload for kind, _, payload in got if kind == frames.DATA)[5:]


def test_a_request_frame_larger_than_one_read_is_taken_as_it_arrives(port: int) -> None:
    """One DATA frame of ~1 MiB spans several socket reads; its payload is handed on
    part by part, and the message comes out whole."""
    client = _wide_open(port)
    body = bytes(range(256)) * 4000
    request = client.request(1, f"/{SERVICE}/Echo", body)
    client.send(request[: len(request) // 3])  # a frame's header and part of its payload
    client.send(request[len(request) // 3 :])
    assert _echoed(client, 1) == body
    client.close()


def test_a_message_split_anywhere_across_data_frames_is_reassembled(port: int) -> None:
    client = _wide_open(port)
    body = b"split-message-" * 1000
    message = grpc_message(body)
    headers = client.headers(1, f"/{SERVICE}/Echo")
    cuts = [0, 2, 3, 5, 6, 7000, len(message)]  # the prefix split over three frames
    parts = [message[a:b] for a, b in itertools.pairwise(cuts)]
    data = b"".join(
        frames.frame(frames.DATA, frames.END_STREAM if i == len(parts) - 1 else 0, 1, part)
        for i, part in enumerate(parts)
    )
    client.send(headers + data)
    assert _echoed(client, 1) == body
    client.close()


def test_a_request_sent_a_byte_at_a_time_is_answered(port: int) -> None:
    client = RawClient(port)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = b"slowly"
    for byte in client.request(1, f"/{SERVICE}/Echo", body):
        client.send(bytes((byte,)))
    assert _echoed(client, 1) == body
    client.close()


def test_a_padded_data_frame_larger_than_one_read_loses_its_padding(port: int) -> None:
    client = _wide_open(port)
    body = b"p" * 600_000
    message = grpc_message(body)
    headers = client.headers(1, f"/{SERVICE}/Echo")
    padded = bytes((200,)) + message + b"\0" * 200
    client.send(headers + frames.frame(frames.DATA, frames.END_STREAM | frames.PADDED, 1, padded))
    assert _echoed(client, 1) == body
    client.close()


# -- connection lifetime (grpc.max_connection_age_ms and friends) ----------------------


def goaway(client: RawClient) -> tuple[int, int, bytes]:
    """Read up to the next GOAWAY: (last stream, error code, debug data)."""
    while True:
        kind, _, _, payload = client.next_frame()
        if kind == frames.GOAWAY:
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            return last, int.from_bytes(payload[4:8], "big"), payload[8:]


def next_ping(client: RawClient) -> bytes:
    """Read up to the next PING the server sends (not an ACK); its payload."""
    while True:
        kind, flags, _, payload = client.next_frame()
        if kind == frames.PING and not flags & frames.ACK:
            return payload


def _goaway_last_stream(client: RawClient) -> int:
    return goaway(client)[0]


def _ack_drain_ping(client: RawClient) -> None:
    client.send(frames.frame(frames.PING, frames.ACK, 0, next_ping(client)))


def _held_methods(release: asyncio.Event) -> dict[str, grpc.RpcMethodHandler]:
    async def held(request: bytes, context: Any) -> bytes:
        await release.wait()
        return request

    return {"Held": grpc.unary_unary_rpc_method_handler(held)}


def test_a_connection_past_its_age_drains_and_still_answers_its_call() -> None:
    release = asyncio.Event()
    lifetime = Lifetime(age_s=0.3)
    with (
        serving(_held_methods(release), lifetime=lifetime) as (port, _, loop),
        contextlib.closing(RawClient(port)) as client,
    ):
        client.send(client.request(1, f"/{SERVICE}/Held", b"in flight"))
        assert _goaway_last_stream(client) == frames.MAX_WINDOW  # the drain's first GOAWAY
        _ack_drain_ping(client)
        assert _goaway_last_stream(client) == 1  # the call in flight is kept
        loop.call_soon_threadsafe(release.set)
        assert _echoed(client, 1) == b"in flight"
        with pytest.raises((EOFError, ConnectionError)):
            while True:
                client.next_frame()


def test_grpcio_clients_reconnect_across_connection_ages_without_a_failed_call() -> None:
    """What the age is for: a long-lived client's calls move to new connections (through
    a load balancer, to new replicas) and none fails on the way."""
    peers: set[str] = set()

    async def where(request: bytes, context: Any) -> bytes:
        peers.add(context.peer())
        return request

    methods = {"Where": grpc.unary_unary_rpc_method_handler(where)}
    with (
        serving(methods, lifetime=Lifetime(age_s=0.2)) as (port, _, _),
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        call = channel.unary_unary(f"/{SERVICE}/Where")
        calls = 0

        def moved_three_times() -> bool:
            nonlocal calls
            assert call(b"x", timeout=10) == b"x"
            calls += 1
            return len(peers) >= 4

        wait_until(moved_three_times, timeout=30)
    assert calls > len(peers)


def test_an_idle_connection_drains() -> None:
    with (
        serving({}, lifetime=Lifetime(idle_s=0.2)) as (port, _, _),
        contextlib.closing(RawClient(port)) as client,
    ):
        assert _goaway_last_stream(client) == frames.MAX_WINDOW
        _ack_drain_ping(client)
        assert _goaway_last_stream(client) == 0
        with pytest.raises((EOFError, ConnectionError)):
            while True:
                client.next_frame()


def test_a_call_past_the_age_grace_ends_unavailable_and_the_connection_closes() -> None:
    release = asyncio.Event()  # never set: the call outlives the grace
    lifetime = Lifetime(age_s=0.2, age_grace_s=0.3)
    with (
        serving(_held_methods(release), lifetime=lifetime) as (port, _, _),
        contextlib.closing(RawClient(port)) as client,
    ):
        client.send(client.request(1, f"/{SERVICE}/Held", b""))
        got = client.frames_until(frames.HEADERS, 1, frames.END_STREAM)
        status = dict(client.decoder.decode(got[-1][2], raw=True))
        assert status[b"grpc-status"] == b"14"
        assert b"max connection age" in status[b"grpc-message"]
        with pytest.raises((EOFError, ConnectionError)):
            while True:
                client.next_frame()


class _GoneTransport(asyncio.Transport):
    """A socket whose client has already gone: half-closing it fails (ENOTCONN)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: Any) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        raise OSError(107, "Transport endpoint is not connected")

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_a_drain_whose_client_already_left_closes_the_socket_instead_of_raising() -> None:
    """Seen in a test run: the server's stop raised ENOTCONN from the half-close of a
    connection whose client had closed a moment before."""

    async def drain() -> bool:
        connection = Connection(H2Server())
        transport = _GoneTransport()
        connection.connection_made(transport)
        connection.go_away()
        connection.final_goaway()  # no call open: half-close now
        connection.connection_lost(None)
        return transport.closed

    assert asyncio.run(drain())


def test_a_connection_waiting_in_the_listen_backlog_is_drained_not_reset() -> None:
    """A client the kernel accepted, whose call is sent, but which the server had not
    taken from the backlog when it stopped: closing the listener would reset it."""

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def scenario() -> bytes:
        server = H2Server()
        methods = {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, methods)])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        # Blocking calls on the loop's thread: the server cannot accept in between.
        client = RawClient(port)
        client.send(client.request(1, f"/{SERVICE}/Echo", b"queued"))
        stopping = asyncio.create_task(server.stop(10))
        with contextlib.closing(client):
            answer = await asyncio.get_running_loop().run_in_executor(None, _echoed, client, 1)
        await stopping
        return answer

    assert asyncio.run(scenario()) == b"queued"
