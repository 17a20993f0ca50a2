"""RestServer: our HTTP/1.1 protocol inside a loop we own, on a port the OS picks."""

import asyncio
import socket
from typing import Any

import httpx

from tensorserve.rest import RestServer
from tests.rest.conftest import FakeModel


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


def test_serves_over_http_on_an_os_picked_port(harness: Any) -> None:
    async def scenario() -> None:
        server = RestServer(harness.app, "127.0.0.1", 0)
        await server.start()
        try:
            assert server.port > 0
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
                response = await client.post(
                    "/v1/models/half_plus_two:predict", json={"instances": [1.0, 2.0, 5.0]}
                )
                assert response.status_code == 200
                assert response.headers["content-type"] == "application/json"
                assert response.json() == {"predictions": [2.5, 3.0, 4.5]}
                assert "server" not in response.headers
                missing = await client.get("/nothing")
                assert missing.status_code == 404
        finally:
            await server.stop(grace_s=1)

    _run(scenario())


def test_listens_on_every_interface_when_no_host_is_given(harness: Any) -> None:
    async def scenario() -> None:
        server = RestServer(harness.app, None, 0)
        await server.start()
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{server.port}/healthz")
                assert response.status_code == 200
        finally:
            await server.stop(grace_s=1)

    _run(scenario())


def test_stop_lets_in_flight_requests_finish(harness: Any) -> None:
    model: FakeModel = harness.manager.models["half_plus_two"][123]

    async def scenario() -> None:
        server = RestServer(harness.app, "127.0.0.1", 0)
        await server.start()
        port = server.port
        model.release.clear()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            request = asyncio.create_task(
                client.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]})
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not model.predict_calls and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert model.predict_calls, "request never reached the model"
            stopping = asyncio.create_task(server.stop(grace_s=10))
            deadline = loop.time() + 10
            while await _accepts(port) and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert not await _accepts(port), "server still accepting while stopping"
            assert not request.done()
            model.release.set()
            response = await request
            await stopping
        assert response.status_code == 200
        assert response.json() == {"predictions": [2.5]}

    _run(scenario())


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


_PREDICT = (
    b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 20\r\n\r\n" + b'{"instances": [1.0]}'
)


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head, await reader.readexactly(length)


def test_request_on_an_idle_keep_alive_connection_during_drain_is_answered(harness: Any) -> None:
    """The SIGTERM race of issue 15: the next request of a reused connection, sent as the
    drain begins, gets its answer (with Connection: close), not a reset."""

    async def scenario() -> None:
        server = RestServer(harness.app, "127.0.0.1", 0)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_PREDICT)
        head, _ = await _read_response(reader)
        assert b"connection: close" not in head.lower()
        stopping = asyncio.create_task(server.stop(grace_s=10))
        await asyncio.sleep(0)  # the drain has begun; the connection is idle
        writer.write(_PREDICT)
        head, body = await _read_response(reader)
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
        assert body == b'{"predictions":[2.5]}'
        assert await reader.read() == b""  # then a clean FIN
        writer.close()
        await stopping

    _run(scenario())


def test_stop_closes_quiet_idle_connections_without_waiting_for_the_grace(harness: Any) -> None:
    async def scenario() -> None:
        server = RestServer(harness.app, "127.0.0.1", 0)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_PREDICT)
        await _read_response(reader)
        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping = asyncio.create_task(server.stop(grace_s=30))
        assert await reader.read() == b""  # FIN after the quiet window, not a reset
        writer.close()
        await stopping
        assert loop.time() - started < 10

    _run(scenario())


def test_connections_waiting_in_the_listen_backlog_are_answered_not_reset(harness: Any) -> None:
    """A client the kernel accepted, whose request is sent, but which the server had not
    taken from the backlog when the drain began: closing the listener would reset it."""

    async def scenario() -> None:
        server = RestServer(harness.app, "127.0.0.1", 0)
        await server.start()
        # Blocking calls on the loop's thread: the server cannot accept in between.
        client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        client.sendall(_PREDICT)
        stopping = asyncio.create_task(server.stop(grace_s=10))
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, _read_until_closed, client)
        await stopping
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert b"connection: close" in answer and answer.endswith(b'{"predictions":[2.5]}')

    _run(scenario())


def _read_until_closed(client: socket.socket) -> bytes:
    chunks = []
    with client:
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_response_sent_in_parts_is_streamed_chunked_and_keeps_the_connection() -> None:
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/plain":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await release.wait()  # the first part must reach the client before this ends
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def scenario() -> None:
        server = RestServer(app, "127.0.0.1", 0)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
                async with client.stream("GET", "/events") as response:
                    assert response.headers["transfer-encoding"] == "chunked"
                    parts = response.aiter_bytes()
                    assert await anext(parts) == b"data: 1\n\n"
                    release.set()
                    assert b"".join([part async for part in parts]) == b"data: 2\n\n"
                plain = await client.get("/plain")  # the same connection goes on
                assert plain.content == b"ok"
        finally:
            await server.stop(grace_s=1)

    _run(scenario())


class _FakeConnection:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.closed: asyncio.Future[None] = loop.create_future()

    def drain(self) -> None:
        pass


def test_wait_drained_waits_for_a_connection_that_registers_while_it_waits(
    harness: Any,
) -> None:
    """A socket the loop accepted just before the listener closed registers a few turns
    later; the drain must wait for its answer, or close() would abort it unanswered."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = RestServer(harness.app, "127.0.0.1", 0)
        early, late = _FakeConnection(loop), _FakeConnection(loop)
        server._connections.add(early)  # type: ignore[arg-type]
        waiting = asyncio.create_task(server.wait_drained(10))
        await asyncio.sleep(0)
        server._connections.add(late)  # type: ignore[arg-type]
        early.closed.set_result(None)
        server._connections.discard(early)  # type: ignore[arg-type]
        for _ in range(10):
            await asyncio.sleep(0)
        assert not waiting.done()
        late.closed.set_result(None)
        server._connections.discard(late)  # type: ignore[arg-type]
        assert await asyncio.wait_for(waiting, 5) is True

    _run(scenario())
