"""RestServer: our HTTP/1.1 protocol inside a loop we own, on a port the OS picks."""

import asyncio
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
