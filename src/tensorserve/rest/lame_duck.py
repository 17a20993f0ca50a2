"""Closing keep-alive connections one response at a time while the server drains.

Between SIGTERM and the ports closing (``--drain_delay_seconds``) the server
still answers, but a client should stop reusing its connection, so its next
request opens a new one, which a load balancer sends to a replica that stays.
:func:`close_after_each_response` marks every response ``Connection: close``
while ``draining()`` holds; idle connections are left open, because closing
one races a request the client may be sending on it at that moment.
"""

from __future__ import annotations

from collections.abc import Callable

from tensorserve.rest.asgi import ASGIApp, Message, Receive, Scope, Send

_CLOSE = (b"connection", b"close")


def close_after_each_response(app: ASGIApp, draining: Callable[[], bool]) -> ASGIApp:
    """``app``, with ``Connection: close`` on each response started while
    ``draining()`` is true. ``draining`` is called on the event loop; keep it cheap."""

    async def lame_duck_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not draining():
            await app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        await app(scope, receive, send_closing)

    return lame_duck_app
