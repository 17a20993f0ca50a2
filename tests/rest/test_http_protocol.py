"""The HTTP/1.1 protocol through a fake transport: framing, ordering, timeouts, refusals, drain."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tensorserve.rest.asgi import Receive, Scope, Send, send_response
from tensorserve.rest.connection_set import ConnectionLimits, ConnectionSet
from tensorserve.rest.connection_state import ConnectionState
from tensorserve.rest.http_protocol import HttpConnection
from tests.support.fake_transport import FakeTransport, ParsedResponse, parse_responses
from tests.support.memory import all_freed, cycle_collector_paused


class EchoApp:
    """Answers ``{"method", "path", "body"}``; a path starting /slow waits for ``release``."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.started: list[str] = []
        self.finished: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.started.append(scope["path"])
        if scope["path"].startswith("/slow"):
            await self.release.wait()
        body = json.dumps(
            {"method": scope["method"], "path": scope["path"], "body": message["body"].decode()}
        ).encode()
        await send_response(send, 200, body, [(b"content-type", b"application/json")])
        self.finished.append(scope["path"])


class Connection:
    """One HttpConnection on a FakeTransport, with the helpers the tests need."""

    def __init__(self, app: Any = None, **limits: Any) -> None:
        self.app = EchoApp()
        self.registry: ConnectionSet[HttpConnection] = ConnectionSet()
        options = {"max_body_bytes": 1000, **limits}
        self.protocol = HttpConnection(
            app or self.app, ConnectionLimits(**options), self.registry, "http"
        )
        self.transport = FakeTransport(self.protocol).connect()

    def send(self, data: bytes) -> None:
        self.transport.client_sends(data)

    def responses(self) -> list[ParsedResponse]:
        return parse_responses(bytes(self.transport.written))

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async def poll() -> None:
            while not condition():
                await asyncio.sleep(0)

        await asyncio.wait_for(poll(), timeout_s)

    async def answered(self, count: int) -> list[ParsedResponse]:
        await self.until(lambda: len(self.responses()) >= count)
        return self.responses()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def post(path: str, body: bytes = b"{}", extra: bytes = b"") -> bytes:
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % (path.encode(), len(body))
    return head + extra + b"\r\n" + body


def echoed(response: ParsedResponse) -> dict[str, str]:
    result: dict[str, str] = json.loads(response.body)
    return result


# -- keep-alive and pipelining ----------------------------------------------------------


def test_keep_alive_connection_answers_request_after_request() -> None:
    async def scenario() -> None:
        c = Connection()
        c.send(post("/a", b"1"))
        await c.answered(1)
        c.send(post("/b", b"22"))
        first, second = await c.answered(2)
        assert (echoed(first)["path"], echoed(second)["body"]) == ("/a", "22")
        assert "connection" not in second.headers
        assert c.protocol.state is ConnectionState.IDLE and not c.transport.eof_written

    run(scenario)


def test_pipelined_requests_are_answered_in_order_even_when_the_first_is_slow() -> None:
    async def scenario() -> None:
        c = Connection()
        c.app.release.clear()
        c.send(post("/slow") + post("/fast") + b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
        await c.until(lambda: c.app.started == ["/slow"])
        assert c.transport.written == b""  # nothing may overtake the slow answer
        c.app.release.set()
        responses = await c.answered(3)
        assert [echoed(r)["path"] for r in responses] == ["/slow", "/fast", "/third"]

    run(scenario)


def test_request_split_across_many_reads_is_reassembled() -> None:
    async def scenario() -> None:
        c = Connection()
        for byte in post("/split", b'{"instances": [1]}'):
            c.send(bytes([byte]))
        (response,) = await c.answered(1)
        assert echoed(response)["body"] == '{"instances": [1]}'

    run(scenario)


def test_chunked_body_is_joined_before_the_app_runs() -> None:
    async def scenario() -> None:
        c = Connection()
        c.send(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        c.send(b"5\r\nhello\r\n")
        c.send(b"6;ext=1\r\n world\r\n0\r\n\r\n")
        (response,) = await c.answered(1)
        assert echoed(response)["body"] == "hello world"

    run(scenario)


def test_chunked_body_over_the_limit_is_413_and_closes() -> None:
    async def scenario() -> None:
        c = Connection(max_body_bytes=8)
        c.send(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        c.send(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
        (response,) = await c.answered(1)
        assert response.status == 413 and response.headers["connection"] == "close"
        assert "limit of 8 bytes" in json.loads(response.body)["error"]
        assert c.app.started == [] and c.transport.eof_written

    run(scenario)


# -- Expect: 100-continue and HEAD --------------------------------------------------------


def test_expect_100_continue_is_answered_before_the_body_arrives() -> None:
    async def scenario() -> None:
        c = Connection()
        head = post("/upload", b"abc", b"Expect: 100-continue\r\n")
        c.send(head[:-3])
        assert c.transport.written == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"abc")
        interim, final = await c.answered(2)
        assert (interim.status, final.status, echoed(final)["body"]) == (100, 200, "abc")

    run(scenario)


def test_100_continue_waits_for_the_answer_to_the_request_before_it() -> None:
    async def scenario() -> None:
        c = Connection()
        c.app.release.clear()
        c.send(post("/slow"))
        await c.until(lambda: c.app.started == ["/slow"])
        c.send(post("/upload", b"abc", b"Expect: 100-continue\r\n")[:-3])
        assert c.transport.written == b""
        c.app.release.set()
        await c.answered(2)
        c.send(b"abc")
        statuses = [r.status for r in await c.answered(3)]
        assert statuses == [200, 100, 200]

    run(scenario)


def test_no_100_continue_for_a_body_over_the_limit() -> None:
    async def scenario() -> None:
        c = Connection(max_body_bytes=10)
        c.send(
            b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        )
        (response,) = await c.answered(1)
        assert response.status == 413 and c.transport.eof_written

    run(scenario)


def test_head_gets_the_headers_and_length_without_the_body() -> None:
    async def scenario() -> None:
        c = Connection()
        c.send(b"HEAD /thing HTTP/1.1\r\nHost: x\r\n\r\n")
        await c.until(lambda: c.transport.written.endswith(b"\r\n\r\n"))
        await asyncio.sleep(0)
        head = bytes(c.transport.written)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
        body = json.dumps({"method": "HEAD", "path": "/thing", "body": ""}).encode()
        assert b"content-length: %d\r\n" % len(body) in head
        c.send(post("/after"))  # the connection is still in step
        await c.until(lambda: c.transport.written.endswith(b'"body": "{}"}'))

    run(scenario)


# -- timeouts -------------------------------------------------------------------------


def test_a_request_that_stops_arriving_gets_408_and_the_connection_closes() -> None:
    async def scenario() -> None:
        c = Connection(read_timeout_s=0.05)
        c.send(b"POST /slowloris HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        (response,) = await c.answered(1)
        assert response.status == 408 and response.headers["connection"] == "close"
        assert json.loads(response.body) == {"error": "Timed out reading the request"}
        assert c.transport.eof_written and c.app.started == []

    run(scenario)


def test_read_timeout_runs_again_after_a_slow_answer_to_the_request_before() -> None:
    async def scenario() -> None:
        c = Connection(read_timeout_s=0.05)
        c.app.release.clear()
        c.send(post("/slow") + b"POST /partial HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        await c.until(lambda: c.app.started == ["/slow"])
        c.app.release.set()
        first, second = await c.answered(2)
        assert (first.status, second.status) == (200, 408)

    run(scenario)


def test_idle_keep_alive_connection_closes_after_the_idle_timeout_with_a_fin() -> None:
    async def scenario() -> None:
        c = Connection(idle_timeout_s=0.05, linger_s=5)
        await c.until(lambda: c.transport.eof_written)
        assert c.protocol.state is ConnectionState.CLOSING and not c.transport.closed
        c.send(b"GET /late HTTP/1.1\r\n\r\n")  # discarded while lingering, never a reset
        c.transport.client_closes_its_side()
        await c.protocol.closed
        assert c.protocol.state is ConnectionState.CLOSED and not c.transport.aborted

    run(scenario)


def test_lingering_close_aborts_a_client_that_never_closes() -> None:
    async def scenario() -> None:
        c = Connection(idle_timeout_s=0.01, linger_s=0.05)
        await c.protocol.closed
        assert c.transport.eof_written and c.transport.aborted

    run(scenario)


# -- request smuggling and malformed framing ----------------------------------------------

SMUGGLING = {
    "content-length and transfer-encoding": b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    "transfer-encoding then content-length": b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 5\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    "duplicate content-length": b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 40"
    b"\r\n\r\nxGET /smuggled HTTP/1.1\r\n\r\n",
    "equal duplicate content-length": b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n"
    b"Content-Length: 1\r\n\r\nx",
    "content-length list": b"POST /a HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx",
    "obs-fold": b"POST /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\nContent-Length: 1\r\n\r\nx",
    "obs-fold content-length": b"POST /a HTTP/1.1\r\nContent-Length:\r\n 1\r\n\r\nx",
    "space before colon": b"POST /a HTTP/1.1\r\nContent-Length : 1\r\n\r\nx",
    "transfer-encoding twice": b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked not last": b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n",
    "chunk without its CRLF": b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1\r\nxy0\r\n\r\n",
    "negative content-length": b"POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\nx",
    "bare LF line ends": b"POST /a HTTP/1.1\nContent-Length: 1\n\nx",
    "NUL in a header": b"POST /a HTTP/1.1\r\nHost: x\x00y\r\nContent-Length: 1\r\n\r\nx",
}


@pytest.mark.parametrize("request_bytes", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_ambiguous_framing_is_refused_with_400_and_the_connection_closes(
    request_bytes: bytes,
) -> None:
    async def scenario() -> None:
        c = Connection()
        c.send(request_bytes)
        (response,) = await c.answered(1)
        assert response.status == 400 and response.headers["connection"] == "close"
        assert isinstance(json.loads(response.body)["error"], str)
        assert c.transport.eof_written and c.app.started == []
        c.send(b"GET /after HTTP/1.1\r\n\r\n")  # input after the refusal is never answered
        await asyncio.sleep(0)
        assert len(c.responses()) == 1

    run(scenario)


def test_upgrade_is_answered_as_a_plain_request_then_refused() -> None:
    async def scenario() -> None:
        c = Connection()
        c.send(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        answer, refusal = await c.answered(2)
        assert answer.status == 200 and "connection" not in answer.headers
        assert refusal.status == 400 and refusal.headers["connection"] == "close"
        assert json.loads(refusal.body) == {"error": "HTTP upgrades are not supported"}

    run(scenario)


def test_requests_before_a_malformed_one_are_answered_first() -> None:
    async def scenario() -> None:
        c = Connection()
        c.app.release.clear()
        c.send(post("/slow") + post("/second") + b"POST /bad HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        await c.until(lambda: c.app.started == ["/slow"])
        c.app.release.set()
        first, second, refusal = await c.answered(3)
        assert [echoed(first)["path"], echoed(second)["path"]] == ["/slow", "/second"]
        assert "connection" not in first.headers and "connection" not in second.headers
        assert refusal.status == 400 and refusal.headers["connection"] == "close"

    run(scenario)


def test_declared_body_over_the_limit_is_refused_before_it_is_read() -> None:
    async def scenario() -> None:
        c = Connection(max_body_bytes=100)
        c.send(b"POST /a HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
        (response,) = await c.answered(1)
        assert response.status == 413
        assert json.loads(response.body) == {
            "error": "Request body is larger than the limit of 100 bytes"
        }

    run(scenario)


def test_content_length_with_thousands_of_leading_zeros_is_read_as_its_value() -> None:
    async def scenario() -> None:
        c = Connection()
        c.send(b"POST /z HTTP/1.1\r\nContent-Length: " + b"0" * 5000 + b"2\r\n\r\nok")
        (response,) = await c.answered(1)
        assert echoed(response)["body"] == "ok"

    run(scenario)


# -- client half-close and drain --------------------------------------------------------


def test_request_followed_by_the_clients_fin_is_still_answered() -> None:
    async def scenario() -> None:
        c = Connection()
        c.app.release.clear()
        c.send(post("/slow"))
        await c.until(lambda: c.app.started == ["/slow"])
        c.transport.client_closes_its_side()
        c.app.release.set()
        (response,) = await c.answered(1)
        assert response.status == 200 and response.headers["connection"] == "close"
        await c.protocol.closed

    run(scenario)


def test_drain_answers_the_request_in_flight_with_connection_close() -> None:
    async def scenario() -> None:
        c = Connection()
        c.app.release.clear()
        c.send(post("/slow"))
        await c.until(lambda: c.app.started == ["/slow"])
        c.protocol.drain()
        c.app.release.set()
        (response,) = await c.answered(1)
        assert response.status == 200 and response.headers["connection"] == "close"
        assert c.transport.eof_written

    run(scenario)


def test_drain_answers_every_pipelined_request_and_only_the_last_says_close() -> None:
    async def scenario() -> None:
        c = Connection()
        c.app.release.clear()
        c.send(post("/slow") + post("/b") + post("/c"))
        await c.until(lambda: c.app.started == ["/slow"])
        c.protocol.drain()
        c.app.release.set()
        responses = await c.answered(3)
        assert [r.headers.get("connection") for r in responses] == [None, None, "close"]

    run(scenario)


def test_drain_answers_a_request_arriving_on_an_idle_keep_alive_connection() -> None:
    async def scenario() -> None:
        c = Connection(drain_idle_s=5)
        c.send(post("/first"))
        await c.answered(1)
        c.protocol.drain()
        assert not c.transport.eof_written  # a request may already be on its way
        c.send(post("/next"))  # ... and here it is
        first, second = await c.answered(2)
        assert "connection" not in first.headers
        assert second.status == 200 and second.headers["connection"] == "close"
        assert c.transport.eof_written

    run(scenario)


def test_drain_answers_a_request_still_arriving() -> None:
    async def scenario() -> None:
        c = Connection(drain_idle_s=0)
        c.send(post("/partial", b"abcd")[:-2])
        c.protocol.drain()
        c.send(b"cd")
        (response,) = await c.answered(1)
        assert echoed(response)["body"] == "abcd" and response.headers["connection"] == "close"

    run(scenario)


def test_drain_closes_a_quiet_idle_connection_with_a_fin_after_the_quiet_window() -> None:
    async def scenario() -> None:
        c = Connection(drain_idle_s=0.05)
        c.protocol.drain()
        assert not c.transport.eof_written
        await c.until(lambda: c.transport.eof_written)
        assert c.transport.written == b"" and not c.transport.aborted

    run(scenario)


def test_the_server_registry_tracks_open_connections() -> None:
    async def scenario() -> None:
        c = Connection()
        assert list(c.registry) == [c.protocol]
        c.transport.close()
        await c.protocol.closed
        assert len(c.registry) == 0

    run(scenario)


def test_a_connection_made_after_the_drain_began_drains_too() -> None:
    async def scenario() -> None:
        app = EchoApp()
        registry: ConnectionSet[HttpConnection] = ConnectionSet()
        registry.drain_all()
        protocol = HttpConnection(app, ConnectionLimits(1000), registry, "http")
        transport = FakeTransport(protocol).connect()
        transport.client_sends(post("/late"))
        await asyncio.wait_for(_answered(transport), 5)
        (response,) = parse_responses(bytes(transport.written))
        assert response.headers["connection"] == "close"

    run(scenario)


async def _answered(transport: FakeTransport) -> None:
    while not parse_responses(bytes(transport.written)):
        await asyncio.sleep(0)


def test_an_app_cancelling_its_disconnect_watch_does_not_tell_later_requests_the_client_left() -> (
    None
):
    """A streaming app watches ``receive()`` for ``http.disconnect`` and cancels the
    watch when its stream ends. That must not mark the connection lost: the next request
    on the keep-alive connection is still there (a V2 server-sent-event stream after
    another was cut after its first event)."""
    watched: list[bool] = []

    class WatchingApp:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await receive()  # the body
            watch = asyncio.ensure_future(receive())  # returns only at disconnect
            await asyncio.sleep(0)
            watched.append(watch.done())
            watch.cancel()
            await send_response(send, 200, b"{}", [(b"content-type", b"application/json")])

    async def scenario() -> None:
        connection = Connection(WatchingApp())
        connection.send(post("/a"))
        await connection.answered(1)
        connection.send(post("/b"))
        await connection.answered(2)
        assert [r.status for r in connection.responses()] == [200, 200]

    run(scenario)
    assert watched == [False, False]


def test_a_request_unanswered_at_the_drain_deadline_gets_503_and_the_late_answer_is_dropped() -> (
    None
):
    async def scenario() -> None:
        c = Connection()
        c.app.release.clear()
        c.send(post("/slow"))
        await c.until(lambda: c.app.started == ["/slow"])
        c.protocol.abort()  # the drain's deadline: the model call still runs
        [response] = c.responses()
        assert response.status == 503
        assert response.headers["connection"] == "close"
        assert json.loads(response.body) == {"error": "The server is shutting down"}
        assert c.transport.closed and not c.transport.aborted
        c.app.release.set()  # the handler finishes late: nothing more is written
        await c.until(lambda: c.app.finished == ["/slow"])
        assert len(c.responses()) == 1

    run(scenario)


def test_an_idle_connection_at_the_drain_deadline_is_dropped() -> None:
    async def scenario() -> None:
        c = Connection()
        c.send(post("/x"))
        await c.answered(1)
        c.protocol.abort()
        assert c.transport.aborted and len(c.responses()) == 1

    run(scenario)


def test_a_closed_connection_is_freed_with_its_last_reference() -> None:
    """Its parser calls back into it; once closed it lets the parser go, so it does not
    wait in that cycle, with whatever it holds, for the cycle collector."""
    refs: list[weakref.ref[HttpConnection]] = []

    async def scenario() -> None:
        connection = Connection()
        refs.append(weakref.ref(connection.protocol))
        connection.send(post("/a", b'{"x": 1}'))
        await connection.answered(1)
        connection.transport.close()
        await connection.until(lambda: connection.protocol.state is ConnectionState.CLOSED)

    with cycle_collector_paused():
        run(scenario)
        assert all_freed(refs)
