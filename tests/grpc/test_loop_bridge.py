"""grpc.aio-style handlers served by the threaded server through LoopBridge: answers,
aborts, deadlines that cancel the coroutine, and streams both ways."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from tensorserve.grpc.loop_bridge import (
    NO_DEADLINE_S,
    LoopBridge,
    bridged_handler,
    time_remaining_s,
)

SERVICE = "test.Bridge"


class Handlers:
    """The behaviours under test; records what ran on which thread."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.loop_thread: int | None = None
        self.plain_thread: int | None = None
        self.remaining: list[float | None] = []

    async def echo(self, request: bytes, context: Any) -> bytes:
        self.loop_thread = threading.get_ident()
        self.remaining.append(context.time_remaining())
        if request == b"abort":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "refused on the loop")
        return b"echo:" + request

    async def hang(self, request: bytes, context: Any) -> bytes:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b""  # pragma: no cover

    async def count(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        for i in range(int(request)):
            yield str(i).encode()

    async def chat(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request.upper()

    async def total(self, requests: AsyncIterator[bytes], context: Any) -> bytes:
        return str(sum([len(request) async for request in requests])).encode()

    def plain(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.plain_thread = threading.get_ident()
        return b"plain:" + request


class Served:
    def __init__(self) -> None:
        self.handlers = Handlers()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.bridge = LoopBridge(grpc.server(ThreadPoolExecutor(4)), self.loop)
        h = self.handlers
        methods = {
            "Echo": grpc.unary_unary_rpc_method_handler(h.echo),
            "Hang": grpc.unary_unary_rpc_method_handler(h.hang),
            "Count": grpc.unary_stream_rpc_method_handler(h.count),
            "Chat": grpc.stream_stream_rpc_method_handler(h.chat),
            "Total": grpc.stream_unary_rpc_method_handler(h.total),
            "Plain": grpc.unary_unary_rpc_method_handler(h.plain),
        }
        self.bridge.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, methods),)
        )
        self.port = self.bridge.add_insecure_port("127.0.0.1:0")
        self.bridge.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def method(self, kind: str, name: str) -> Any:
        return getattr(self.channel, kind)(f"/{SERVICE}/{name}")

    def close(self) -> None:
        self.channel.close()
        self.bridge.stop(0).wait(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    opened = Served()
    yield opened
    opened.close()


def test_a_coroutine_handler_runs_on_the_loop_and_answers(served: Served) -> None:
    assert served.method("unary_unary", "Echo")(b"hi", timeout=10) == b"echo:hi"
    assert served.handlers.loop_thread == served.thread.ident
    remaining = served.handlers.remaining[-1]
    # gRPC rounds the deadline it sends up a little, so allow a margin.
    assert remaining is not None and 0 < remaining <= 11
    served.method("unary_unary", "Echo")(b"no deadline")
    assert served.handlers.remaining[-1] is None


def test_await_context_abort_ends_the_rpc_with_its_status(served: Served) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        served.method("unary_unary", "Echo")(b"abort", timeout=10)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == "refused on the loop"


def test_a_passed_deadline_cancels_the_coroutine(served: Served) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        served.method("unary_unary", "Hang")(b"", timeout=0.2)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert served.handlers.cancelled.wait(10)


def test_an_async_generator_streams_its_responses(served: Served) -> None:
    assert list(served.method("unary_stream", "Count")(b"3", timeout=10)) == [b"0", b"1", b"2"]


def test_streamed_requests_reach_the_loop_in_order(served: Served) -> None:
    # More messages than are read ahead, so the pump waits for the loop.
    sent = [f"m{i}".encode() for i in range(50)]
    answers = list(served.method("stream_stream", "Chat")(iter(sent), timeout=10))
    assert answers == [message.upper() for message in sent]
    assert served.method("stream_unary", "Total")(iter(sent), timeout=10) == b"140"


def test_a_plain_function_runs_on_the_pool_thread_unchanged(served: Served) -> None:
    assert served.method("unary_unary", "Plain")(b"x", timeout=10) == b"plain:x"
    assert served.handlers.plain_thread not in (None, served.thread.ident)
    handler = grpc.unary_unary_rpc_method_handler(served.handlers.plain)
    assert bridged_handler(handler, served.loop) is handler


class Remaining:
    def __init__(self, value: float | None) -> None:
        self.value = value

    def time_remaining(self) -> float | None:
        return self.value


@pytest.mark.parametrize(
    ("reported", "expected"),
    [(None, None), (float("inf"), None), (NO_DEADLINE_S * 10, None), (-1.0, 0.0), (2.5, 2.5)],
)
def test_time_remaining_is_none_without_a_deadline(
    reported: float | None, expected: float | None
) -> None:
    assert time_remaining_s(Remaining(reported)) == expected
