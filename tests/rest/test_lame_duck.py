"""While draining, every response tells the client to close its connection."""

from __future__ import annotations

import asyncio

from tensorserve.rest.asgi import Message, Receive, Scope, Send, send_response
from tensorserve.rest.lame_duck import close_after_each_response


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send_response(send, 200, b"hi", [(b"content-type", b"text/plain")])


def response_headers(draining: bool) -> list[tuple[bytes, bytes]]:
    app = close_after_each_response(hello, lambda: draining)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": "GET", "path": "/"}, receive, send))
    assert sent[1]["body"] == b"hi"
    return list(sent[0]["headers"])


def test_responses_keep_the_connection_while_serving() -> None:
    assert (b"connection", b"close") not in response_headers(draining=False)


def test_responses_close_the_connection_while_draining() -> None:
    headers = response_headers(draining=True)
    assert headers.count((b"connection", b"close")) == 1
    assert (b"content-type", b"text/plain") in headers
