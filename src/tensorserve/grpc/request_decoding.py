"""Undecodable request bytes end as INVALID_ARGUMENT, for every method of a service.

grpc.aio runs a method's request deserializer before the servicer sees the call;
when it raises (bytes that are not the message's wire format, a string field that
is not UTF-8), grpc answers UNKNOWN ``Unexpected <class 'DecodeError'>``, blaming
the server for the client's mistake. :func:`add_servicer` registers a servicer
through its generated ``add_*Servicer_to_server`` function with every method
handler wrapped: the deserializer returns an :class:`UndecodableRequest` instead
of raising, and the wrapped method aborts such a call with INVALID_ARGUMENT and
protobuf's own text (``Error parsing message with type 'tensorflow.serving.
PredictRequest': Wire format was corrupt``). The servicer never sees it.

Each wrapped handler's response serializer also passes a
:class:`~tensorserve.grpc.serialized_response.SerializedResponse` through as it is.

Works with any generated code (it only intercepts the two registration calls
grpcio's generated functions make) and every handler kind; a streaming method
that reads with ``context.read()`` instead of its request iterator still gets
the marker and must check for it itself. For grpc.aio servicers, and for the
threaded ``grpc.server``, where a plain-function behaviour keeps running on the
pool thread (its undecodable requests refused with the threaded context's
``abort``) and an ``async def`` one is left for
:class:`~tensorserve.grpc.loop_bridge.LoopBridge` to run on the loop. Stateless.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import grpc

from tensorserve.grpc.loop_bridge import LoopBridge
from tensorserve.grpc.received_size import note_received
from tensorserve.grpc.serialized_response import passing_serialized

S = TypeVar("S")
AddServicer = Callable[[S, Any], None]
"""A generated ``add_<Service>Servicer_to_server(servicer, server)`` function."""


@dataclasses.dataclass(frozen=True, slots=True)
class UndecodableRequest:
    """Stands in for a request whose bytes did not parse; ``message`` says why."""

    message: str


def add_servicer(
    server: grpc.aio.Server | LoopBridge, add_to_server: AddServicer[S], servicer: S
) -> None:
    """``add_to_server(servicer, server)``, with undecodable requests answered
    INVALID_ARGUMENT on every method it registers."""
    add_to_server(servicer, _CheckingRegistrar(server))


def checked_method_handler(
    handler: grpc.RpcMethodHandler, *, threaded: bool = False
) -> grpc.RpcMethodHandler:
    """``handler`` whose undecodable requests end INVALID_ARGUMENT before its behaviour
    runs. ``threaded``: registered on a threaded server (plain functions stay plain)."""
    deserializer = handler.request_deserializer
    if deserializer is None:
        return handler
    decode = _tolerant(deserializer)
    # And a response its servicer serialized itself goes out as it is.
    serializer = passing_serialized(handler.response_serializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _checked_unary(handler.unary_unary, threaded), decode, serializer
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _checked_unary(handler.unary_stream, threaded), decode, serializer
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _checked_stream(handler.stream_unary, threaded), decode, serializer
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _checked_stream(handler.stream_stream, threaded), decode, serializer
        )
    return handler


class _CheckingRegistrar:
    """What generated registration code sees as the server: wraps, then passes on."""

    def __init__(self, server: grpc.aio.Server | LoopBridge) -> None:
        self._server = server
        self._threaded = isinstance(server, LoopBridge)

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_CheckingGenericHandler(h, self._threaded) for h in handlers)
        )

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        checked = {
            name: checked_method_handler(h, threaded=self._threaded) for name, h in handlers.items()
        }
        self._server.add_registered_method_handlers(service, checked)


class _CheckingGenericHandler(grpc.GenericRpcHandler):
    """A generic handler's methods, wrapped once each (a service has a fixed few)."""

    def __init__(self, inner: grpc.GenericRpcHandler, threaded: bool) -> None:
        self._inner = inner
        self._threaded = threaded
        self._checked: dict[str, grpc.RpcMethodHandler] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        checked = self._checked.get(method)
        if checked is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:  # not ours: nothing cached, so unknown names cost no memory
                return None
            checked = self._checked[method] = checked_method_handler(
                handler, threaded=self._threaded
            )
        return checked


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(raw: bytes) -> Any:
        note_received(len(raw))  # for the handler, which grpcio does not tell
        try:
            return deserializer(raw)
        except Exception as exc:  # DecodeError, or whatever a custom deserializer raises
            return UndecodableRequest(str(exc) or f"Could not parse the request: {exc!r}")

    return decode


async def _abort(context: grpc.aio.ServicerContext, request: UndecodableRequest) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)


def _checked_unary(behavior: Callable[..., Any], threaded: bool) -> Callable[..., Any]:
    if threaded and _is_plain(behavior):

        def checked_here(request: Any, context: grpc.ServicerContext, *callback: Any) -> Any:
            if isinstance(request, UndecodableRequest):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return behavior(request, context, *callback)

        _keep_non_blocking(behavior, checked_here)
        return checked_here
    if inspect.isasyncgenfunction(behavior):

        async def checked_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, UndecodableRequest):
                await _abort(context, request)
            async for response in behavior(request, context):
                yield response

        return checked_stream

    async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, UndecodableRequest):
            await _abort(context, request)
        result = behavior(request, context)  # a generated base method is not async
        return await result if inspect.isawaitable(result) else result

    return checked


def _checked_stream(behavior: Callable[..., Any], threaded: bool) -> Callable[..., Any]:
    if threaded and _is_plain(behavior):

        def checked_here(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            return behavior(_checked_requests_here(requests, context), context)

        return checked_here
    if inspect.isasyncgenfunction(behavior):

        async def checked_stream(requests: AsyncIterator[Any], context: Any) -> Any:
            async for response in behavior(_checked_requests(requests, context), context):
                yield response

        return checked_stream

    async def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        result = behavior(_checked_requests(requests, context), context)
        return await result if inspect.isawaitable(result) else result

    return checked


def _keep_non_blocking(behavior: Callable[..., Any], wrapper: Callable[..., Any]) -> None:
    """Carry grpcio's non-blocking marks over to ``wrapper``. The health service's
    ``Watch`` has them: the threaded server then hands it a ``send_response_callback``
    and frees the thread, where a blocking ``Watch`` would hold one per client channel
    and, past ``--grpc_max_threads`` watchers, starve every other RPC."""
    for mark in ("experimental_non_blocking", "experimental_thread_pool"):
        if hasattr(behavior, mark):
            setattr(wrapper, mark, getattr(behavior, mark))


def _is_plain(behavior: Callable[..., Any]) -> bool:
    return not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior))


def _checked_requests_here(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, UndecodableRequest):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        yield request


async def _checked_requests(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, UndecodableRequest):
            await _abort(context, request)
        yield request
