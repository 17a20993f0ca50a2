"""One HTTP/1.1 response, collected from ASGI messages and written as a single buffer.

One write per response keeps a small answer to one syscall (uvicorn spends two).
Call from the event loop.
"""

from __future__ import annotations

import http

import orjson

from tensorserve.rest.asgi import Message

_REASONS = {s.value: s.phrase.encode("latin-1") for s in http.HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client asked for with ``Expect: 100-continue``."""


class ResponseCollector:
    """Collects one ASGI response (its ``send``) and renders it with :meth:`encode`.

    ``head_only`` (a HEAD request) keeps the headers, the Content-Length of the
    body included, and drops the body.
    """

    __slots__ = ("body", "complete", "head_only", "headers", "status")

    def __init__(self, head_only: bool) -> None:
        self.head_only = head_only
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False

    @classmethod
    def error(cls, status: int, message: str) -> ResponseCollector:
        """A complete JSON error response ``{"error": message}``."""
        response = cls(head_only=False)
        response.status = status
        response.headers = [(b"content-type", b"application/json")]
        response.body = [orjson.dumps({"error": message})]
        response.complete = True
        return response

    async def send(self, message: Message) -> None:
        """The ASGI ``send`` callable of the request."""
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            self.body.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True

    def encode(self, keep_alive: bool) -> bytes:
        """Status line, headers (Content-Length added if missing) and body, as one buffer."""
        body = b"".join(self.body)
        lines = [b"HTTP/1.1 %d %s\r\n" % (self.status, _REASONS.get(self.status, b""))]
        has_length = False
        for name, value in self.headers:
            if name.lower() == b"content-length":
                has_length = True
            lines.append(b"%s: %s\r\n" % (name, value))
        if not has_length:
            lines.append(b"content-length: %d\r\n" % len(body))
        if not keep_alive:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        if not self.head_only:
            lines.append(body)
        return b"".join(lines)


def error_response(status: int, message: str) -> bytes:
    """A JSON error response ``{"error": message}`` that closes the connection."""
    return ResponseCollector.error(status, message).encode(keep_alive=False)
