"""grpc.aio-style servicers served by grpc's threaded server (``grpc.server``).

On the 2-core target a grpc.aio RPC costs about 260 µs of server CPU in grpcio's
own machinery even when the handler returns a constant, a threaded server about
150 µs (measured with h2load at 8 streams, ``benchmarks/grpc_speed.py``).
:class:`LoopBridge` lets the threaded server carry the servicers written for
grpc.aio: it stands in for the server when handlers are registered and adapts
each one.

* A behaviour that is a plain function runs on the server's pool thread as it is
  (the threaded Predict path, the sync health and reflection servicers).
* An ``async def`` behaviour runs on the event loop (``run_coroutine_threadsafe``)
  while the pool thread waits for it, with a :class:`LoopContext` that looks like
  grpc.aio's (``await context.abort(...)`` ends the RPC). An async generator
  streams its responses through the pool thread; a streaming request is pumped
  into the loop by a thread of its own, one message at a time. When the RPC ends
  early (client gone, deadline), the coroutine is cancelled, as grpc.aio cancels
  its task.

Thread-safe after registration; register before the server starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import math
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import grpc

from tensorserve.grpc.handler_pool import parked

T = TypeVar("T")

_END = object()
"""Marks the end of a pumped request stream and of a bridged response stream."""
_REQUESTS_QUEUED = 16
"""Streaming requests read ahead of the loop: the client waits (HTTP/2 flow
control) once the loop falls this far behind."""
CANCELLED_MESSAGE = "the RPC ended before its answer was ready"


NO_DEADLINE_S = 1e9
"""A threaded server's context reports an RPC without a deadline as one about
2**63 seconds away (grpc.aio's says None); anything past 30 years means none."""


def time_remaining_s(context: Any) -> float | None:
    """Seconds until the RPC's deadline, or None when it has none, from either
    kind of server's context."""
    remaining = context.time_remaining()
    if remaining is None or not math.isfinite(remaining) or remaining > NO_DEADLINE_S:
        return None
    return max(0.0, float(remaining))


class LoopContext:
    """A threaded server's ``grpc.ServicerContext`` as grpc.aio code expects it.

    ``abort`` and ``send_initial_metadata`` are awaitable; ``abort`` raises (the
    threaded server records the status first, so the RPC ends with it).
    Everything else is the threaded context's own method.
    """

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> None:
        if trailing_metadata:
            self._context.set_trailing_metadata(trailing_metadata)
        self._context.abort(code, details)

    async def send_initial_metadata(self, metadata: Any) -> None:
        self._context.send_initial_metadata(metadata)

    def time_remaining(self) -> float | None:
        return time_remaining_s(self._context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class LoopBridge:
    """What registration code sees as the server: adapts handlers for ``server``.

    Other attributes (ports, ``start``, ``stop``) are the threaded server's own;
    ``pool`` is its handler pool, to shut down once it has stopped (None: the
    caller owns it).
    """

    def __init__(
        self,
        server: grpc.Server,
        loop: asyncio.AbstractEventLoop,
        pool: concurrent.futures.Executor | None = None,
    ) -> None:
        self.server = server
        self.pool = pool
        self._loop = loop

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self.server.add_generic_rpc_handlers(
            tuple(_BridgedGenericHandler(h, self._loop) for h in handlers)
        )

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        bridged = {name: bridged_handler(h, self._loop) for name, h in handlers.items()}
        self.server.add_registered_method_handlers(service, bridged)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


def bridged_handler(
    handler: grpc.RpcMethodHandler, loop: asyncio.AbstractEventLoop
) -> grpc.RpcMethodHandler:
    """``handler`` with an ``async def`` behaviour made to run on ``loop``; a plain
    function behaviour is returned as it is."""
    decode, encode = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        if not inspect.iscoroutinefunction(handler.unary_unary):
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _unary_on_loop(handler.unary_unary, loop), decode, encode
        )
    if handler.unary_stream is not None:
        if not inspect.isasyncgenfunction(handler.unary_stream):
            return handler
        return grpc.unary_stream_rpc_method_handler(
            _stream_on_loop(handler.unary_stream, loop, client_streaming=False), decode, encode
        )
    if handler.stream_unary is not None:
        if not inspect.iscoroutinefunction(handler.stream_unary):
            return handler
        return grpc.stream_unary_rpc_method_handler(
            _unary_on_loop(handler.stream_unary, loop, client_streaming=True), decode, encode
        )
    if handler.stream_stream is not None:
        if not inspect.isasyncgenfunction(handler.stream_stream):
            return handler
        return grpc.stream_stream_rpc_method_handler(
            _stream_on_loop(handler.stream_stream, loop, client_streaming=True), decode, encode
        )
    return handler


class _BridgedGenericHandler(grpc.GenericRpcHandler):
    """A generic handler's methods, adapted once each (a service has a fixed few)."""

    def __init__(self, inner: grpc.GenericRpcHandler, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self._bridged: dict[str, grpc.RpcMethodHandler] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        bridged = self._bridged.get(method)
        if bridged is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None
            bridged = self._bridged[method] = bridged_handler(handler, self._loop)
        return bridged


def run_on_loop(
    coroutine: Coroutine[Any, Any, T],
    loop: asyncio.AbstractEventLoop,
    context: grpc.ServicerContext,
) -> T:
    """Run ``coroutine`` on ``loop`` and wait for it on this (pool) thread; the RPC
    ending first cancels it."""
    return _wait(asyncio.run_coroutine_threadsafe(coroutine, loop), context)


def _unary_on_loop(
    behavior: Callable[..., Coroutine[Any, Any, Any]],
    loop: asyncio.AbstractEventLoop,
    *,
    client_streaming: bool = False,
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def run(argument: Any, context: grpc.ServicerContext) -> Any:
        pump = _Pump(argument, loop) if client_streaming else None
        try:
            coroutine = behavior(
                argument if pump is None else pump.messages(), LoopContext(context)
            )
            return run_on_loop(coroutine, loop, context)
        finally:
            if pump is not None:
                pump.stop()

    return run


def _stream_on_loop(
    behavior: Callable[..., AsyncIterator[Any]],
    loop: asyncio.AbstractEventLoop,
    *,
    client_streaming: bool,
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def run(argument: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        pump = _Pump(argument, loop) if client_streaming else None
        responses = behavior(argument if pump is None else pump.messages(), LoopContext(context))
        try:
            # The stream's work runs on the loop; this thread only carries messages, for
            # as long as the client keeps the stream (a health Watch: for ever). Parked,
            # it does not count against --grpc_max_threads, so unary calls still run.
            with parked():
                while True:
                    future = asyncio.run_coroutine_threadsafe(_next(responses), loop)
                    response = _wait(future, context)
                    if response is _END:
                        return
                    yield response
        finally:  # the client left or the stream ended: close the generator on its loop
            closing = asyncio.run_coroutine_threadsafe(_close(responses), loop)
            with contextlib.suppress(Exception):  # the RPC is over; nobody can be told
                closing.result(timeout=30)
            if pump is not None:
                pump.stop()

    return run


def _wait(future: concurrent.futures.Future[T], context: grpc.ServicerContext) -> T:
    """``future``'s result on the pool thread; the RPC ending first cancels it."""
    context.add_callback(future.cancel)
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        # The client cancelled or its deadline passed: the status it sees is already
        # set; aborting keeps grpc from logging an application error.
        context.abort(grpc.StatusCode.CANCELLED, CANCELLED_MESSAGE)
        raise  # pragma: no cover - abort raises
    finally:
        # The future holds the error raised here, whose traceback holds this frame: a
        # cycle that would keep the request's frames until a garbage collection.
        del future


async def _next(responses: AsyncIterator[Any]) -> Any:
    try:
        return await responses.__anext__()
    except StopAsyncIteration:
        return _END


async def _close(responses: AsyncIterator[Any]) -> None:
    close = getattr(responses, "aclose", None)
    if close is not None:
        await close()


class _Pump:
    """A blocking request iterator as an async iterator on ``loop``, read by a thread
    of its own at most ``_REQUESTS_QUEUED`` messages ahead; ``stop`` ends the thread
    when the RPC is over before the client's stream is."""

    def __init__(self, requests: Iterator[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._requests = requests
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_REQUESTS_QUEUED)
        self._lock = threading.Lock()
        self._stopped = False
        self._putting: concurrent.futures.Future[None] | None = None
        threading.Thread(target=self._pump, name="tensorserve-grpc-requests", daemon=True).start()

    async def messages(self) -> AsyncIterator[Any]:
        while (request := await self._queue.get()) is not _END:
            yield request

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._putting is not None:
                self._putting.cancel()

    def _pump(self) -> None:
        with contextlib.suppress(Exception):  # the RPC ended (cancelled): end the stream
            for request in self._requests:
                if not self._put(request):
                    return
        self._put(_END)

    def _put(self, item: Any) -> bool:
        with self._lock:
            if self._stopped:
                return False
            try:
                putting = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
            except RuntimeError:  # the loop closed
                return False
            self._putting = putting
        try:
            putting.result()
        except (concurrent.futures.CancelledError, RuntimeError):
            return False
        return True
