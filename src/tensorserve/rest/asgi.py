"""The few ASGI types and response helpers the REST front end needs (no framework)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
TEXT_CONTENT_TYPE = (b"content-type", b"text/plain; charset=utf-8")


async def send_response(send: Send, status: int, body: bytes, headers: Headers = ()) -> None:
    """Send a complete response with a Content-Length. Call from the event loop."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header_value(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower-case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None
