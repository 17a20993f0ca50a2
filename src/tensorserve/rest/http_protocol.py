"""HTTP/1.1 for the REST API: an asyncio Protocol on httptools that calls an ASGI app.

Why not uvicorn: measured on the 2-core target, uvicorn spent ~110 µs of Python
per request (7,000 req/s for a fixed response) where this protocol spends ~30 µs
(31,000 req/s), and uvicorn writes headers and body with two syscalls. A small
model's whole request costs less than uvicorn's share, so the front end must be
lean. This keeps only what TensorFlow Serving's REST API needs: keep-alive,
pipelining (answered in order), Content-Length and chunked request bodies,
streamed (chunked) responses for server-sent events,
``Expect: 100-continue``, a body size cap answered before the body is read,
idle and read timeouts, and a graceful drain.

The input side is the state machine of :mod:`tensorserve.rest.connection_state`;
complete requests wait in a queue and are answered one at a time, in order.
Framing is llhttp's (strict): conflicting or duplicate lengths, obs-fold and
bad chunking are refused with 400 and the connection closes after the requests
before them are answered. Every close is a lingering one (FIN, then discard
input until the client closes), so a response is never destroyed by a reset.

Draining (:meth:`HttpConnection.drain`) answers every request whose bytes
arrive, the last with ``Connection: close``; a connection that is idle stays
open for a quiet window (``ConnectionLimits.drain_idle_s``) in case a request
is already on its way, and closes when none came.

Each request's body is read whole before the app runs (TensorFlow Serving does
the same), so ``receive()`` returns it in one message. Call everything from the
event loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, NamedTuple, cast

import httptools

from tensorserve.rest.asgi import ASGIApp, Message
from tensorserve.rest.connection_set import ConnectionLimits, ConnectionSet
from tensorserve.rest.connection_state import ConnectionState, checked_transition
from tensorserve.rest.http_response import CONTINUE, ResponseCollector, error_response
from tensorserve.rest.http_status import error_http_status
from tensorserve.rest.request_body import PayloadTooLarge

__all__ = ["ConnectionLimits", "ConnectionSet", "HttpConnection"]

_LOG = logging.getLogger(__name__)

_MAX_PIPELINED = 64
_IDLE = ConnectionState.IDLE
_READING = ConnectionState.READING
_REFUSED = ConnectionState.REFUSED
_CLOSING = ConnectionState.CLOSING
_CLOSED = ConnectionState.CLOSED
_DETACHED_PARSER = httptools.HttpRequestParser(object())
"""What a closed connection holds instead of its own parser (nothing feeds it)."""


class _Request(NamedTuple):
    scope: dict[str, Any]
    body: bytes
    keep_alive: bool


SHUTTING_DOWN = "The server is shutting down"
"""The 503 of a request still unanswered at the drain's deadline (gRPC's words then)."""


class HttpConnection(asyncio.Protocol):
    """One client connection. Created by ``loop.create_server``; event loop only."""

    def __init__(
        self,
        app: ASGIApp,
        limits: ConnectionLimits,
        registry: ConnectionSet[HttpConnection],
        scheme: str,
    ) -> None:
        self._app = app
        self._limits = limits
        self._registry = registry
        self._scheme = scheme
        self._loop = asyncio.get_event_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None
        self.state = ConnectionState.IDLE
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._message_started = 0.0
        self._continue_due = False
        self._queue: collections.deque[_Request] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._response: ResponseCollector | None = None
        """The response of the request being answered, while ``_task`` runs."""
        self._refusal: bytes | None = None
        self._draining = False
        self._peer_done = False
        self._idle_since = self._loop.time()
        self._linger_until = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._lost: asyncio.Future[None] = self._loop.create_future()

    @property
    def closed(self) -> asyncio.Future[None]:
        """Done once the transport is gone."""
        return self._lost

    @property
    def idle(self) -> bool:
        """Nothing received is unanswered and no request is arriving."""
        return self._task is None and not self._queue and self.state is _IDLE

    def _move(self, state: ConnectionState) -> None:
        self.state = checked_transition(self.state, state)

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._client = _address(transport.get_extra_info("peername"))
        self._server = _address(transport.get_extra_info("sockname"))
        self._arm_timer()
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state is not _CLOSED:
            self._move(_CLOSED)
        self._registry.discard(self)
        self._cancel_timer()
        self._queue.clear()
        if not self._lost.done():
            self._lost.set_result(None)
        self._transport = None
        # The parser holds this connection's callbacks: let it go, so a closed connection
        # is freed with its last reference instead of waiting in a cycle for a collection.
        self._parser = _DETACHED_PARSER

    def eof_received(self) -> bool:
        """The client shut its side: answer what it sent, then close (True keeps us open)."""
        self._peer_done = True
        return self._task is not None

    def data_received(self, data: bytes) -> None:
        if self.state is not _IDLE and self.state is not _READING:
            return  # refused or closing: the rest of the input is discarded
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "HTTP upgrades are not supported")
        except httptools.HttpParserError as err:
            self._refuse(400, f"Malformed HTTP request: {err}")

    # -- httptools callbacks -------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.state is not _IDLE:
            return  # a request after a refusal in the same read: never answered
        self._move(_READING)
        self._url = b""
        self._headers = []
        self._body = []
        self._body_size = 0
        self._message_started = self._loop.time()
        if self._task is None:
            self._arm_timer()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.state is not _READING:
            return
        length = self._content_length()
        if length is not None and length > self._limits.max_body_bytes:
            self._refuse_error(PayloadTooLarge(self._limits.max_body_bytes))
            return
        if self._expects_continue():
            if self._task is None:
                self._write(CONTINUE)
            else:  # interim responses must not overtake the answers before this request
                self._continue_due = True

    def on_body(self, body: bytes) -> None:
        if self.state is not _READING:
            return
        self._body_size += len(body)
        if self._body_size > self._limits.max_body_bytes:
            self._refuse_error(PayloadTooLarge(self._limits.max_body_bytes))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self.state is not _READING:
            return
        self._move(_IDLE)
        self._continue_due = False
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        self._body = []  # the request holds the body now; a kept connection must not
        self._queue.append(_Request(self._scope(), body, bool(self._parser.should_keep_alive())))
        if len(self._queue) >= _MAX_PIPELINED and self._transport is not None:
            self._transport.pause_reading()
        if self._task is None:
            self._start_next()

    # -- requests ------------------------------------------------------------------

    def _scope(self) -> dict[str, Any]:
        path, _, query = self._url.partition(b"?")
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": self._parser.get_http_version(),
            "method": self._parser.get_method().decode("ascii"),
            "scheme": self._scheme,
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": self._headers,
            "client": self._client,
            "server": self._server,
        }

    def _start_next(self) -> None:
        request = self._queue.popleft()
        if self._transport is not None and len(self._queue) < _MAX_PIPELINED // 2:
            self._transport.resume_reading()
        self._cancel_timer()  # while answering, the app owns the deadline
        self._task = self._loop.create_task(self._handle(request))

    async def _handle(self, request: _Request) -> None:
        response = ResponseCollector(request.scope["method"] == "HEAD", self._write_streamed)
        self._response = response
        body = request.body
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            # Shielded: cancelling an app's waiting task (a stream's disconnect watch)
            # must not cancel the connection's one future, which later requests await.
            await asyncio.shield(self._lost)
            return {"type": "http.disconnect"}

        try:
            await self._app(request.scope, receive, response.send)
        except Exception:
            _LOG.exception(
                "REST request %s %s failed", request.scope["method"], request.scope["path"]
            )
        if not response.complete:
            response = ResponseCollector.error(
                500, "Internal error: the request handler did not answer"
            )
        self._task = self._response = None
        self._answered(request, response)

    def _answered(self, request: _Request, response: ResponseCollector) -> None:
        """Write a finished response, then start the next request or wait for one."""
        if self.state is _CLOSED or self.state is _CLOSING:
            return
        more = bool(self._queue) or self._refusal is not None or self.state is _READING
        keep_alive = request.keep_alive and not (self._draining and not more)
        keep_alive = keep_alive and not (self._peer_done and not more)
        if response.streaming:  # already written, chunk by chunk; cut short means close
            keep_alive = keep_alive and response.complete
        else:
            self._write(response.encode(keep_alive))
        if not keep_alive:
            self._close_gracefully()
        elif self._queue:
            self._start_next()
        elif self._refusal is not None:
            self._write(self._refusal)
            self._close_gracefully()
        else:
            if self._continue_due:
                self._continue_due = False
                self._write(CONTINUE)
            self._idle_since = self._loop.time()
            self._arm_timer()

    # -- refusing, draining and closing ---------------------------------------------

    def _refuse_error(self, error: PayloadTooLarge) -> None:
        self._refuse(error_http_status(error), error.message)

    def _write_streamed(self, data: bytes) -> None:
        """Write part of a streamed response; raises ConnectionResetError once the
        client is gone, so the app stops producing."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self._transport.write(data)

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``{"error": message}`` after the requests received before, then close."""
        if self.state is not _IDLE and self.state is not _READING:
            return
        self._move(_REFUSED)
        refusal = error_response(status, message)
        if self._task is None:
            self._write(refusal)
            self._close_gracefully()
        else:  # answered after the requests in flight, keeping responses in order
            self._refusal = refusal

    def drain(self) -> None:
        """Answer what arrives, the last with ``Connection: close``; close once idle."""
        self._draining = True
        if self._transport is not None and self._task is None and self.state is _IDLE:
            self._arm_timer()  # the quiet window counts from when the connection went idle

    def abort(self) -> None:
        """The drain's deadline passed: drop the connection now. A request still being
        answered (a model call that hangs) first gets a 503, as a gRPC call gets
        UNAVAILABLE then, unless its response has begun streaming."""
        transport = self._transport
        if transport is None:
            return
        response = self._response
        if (
            response is not None
            and not response.streaming
            and self.state is not _CLOSING
            and self.state is not _CLOSED
        ):
            self._move(_CLOSING)  # the handler's late answer is dropped
            self._queue.clear()
            transport.write(error_response(503, SHUTTING_DOWN))
            transport.close()  # after the 503 is written
            return
        transport.abort()

    def _close_gracefully(self) -> None:
        """Our FIN after what is written; discard input until the client's (lingering close)."""
        if self.state is _CLOSING or self.state is _CLOSED:
            return
        self._move(_CLOSING)
        self._queue.clear()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._peer_done or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()
        self._linger_until = self._loop.time() + self._limits.linger_s
        self._arm_timer()

    # -- timers --------------------------------------------------------------------

    def _arm_timer(self) -> None:
        """One timer whose meaning follows the state: idle, read, drain quiet or linger."""
        self._cancel_timer()
        if self._task is not None:
            return
        if self.state is _READING:
            deadline = self._message_started + self._limits.read_timeout_s
        elif self.state is _IDLE:
            wait = self._limits.drain_idle_s if self._draining else self._limits.idle_timeout_s
            deadline = self._idle_since + wait
        elif self.state is _CLOSING:
            deadline = self._linger_until
        else:
            return
        self._timer = self._loop.call_at(deadline, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._task is not None:
            return
        if self.state is _READING:
            self._refuse(408, "Timed out reading the request")
        elif self.state is _IDLE:
            self._close_gracefully()
        elif self.state is _CLOSING:
            self.abort()

    # -- helpers ---------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _expects_continue(self) -> bool:
        for name, value in self._headers:
            if name == b"expect":
                return value.lower() == b"100-continue"
        return False

    def _content_length(self) -> int | None:
        for name, value in self._headers:
            if name == b"content-length":
                # llhttp has checked there is one, of digits, below 2**64 (leading zeros aside).
                return int(value.lstrip(b"0") or b"0")
        return None


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
