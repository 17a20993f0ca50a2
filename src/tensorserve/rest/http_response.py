"""One HTTP/1.1 response, collected from ASGI messages and written as a single buffer.

One write per response keeps a small answer to one syscall (uvicorn spends two).
Call from the event loop.
"""

from __future__ import annotations

import http
from collections.abc import Callable

import orjson

from tensorserve.rest.asgi import Message

_REASONS = {s.value: s.phrase.encode("latin-1") for s in http.HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client asked for with ``Expect: 100-continue``."""


class ResponseCollector:
    """Collects one ASGI response (its ``send``) and renders it with :meth:`encode`.

    ``head_only`` (a HEAD request) keeps the headers, the Content-Length of the
    body included, and drops the body.

    Given ``write``, a response without Content-Length whose first body message
    says ``more_body`` is streamed instead (server-sent events): its head and each
    body message are written as they come, with chunked transfer encoding.
    ``write`` raises ConnectionResetError once the client is gone, so the app
    stops producing.
    """

    __slots__ = ("_write", "body", "complete", "head_only", "headers", "status", "streaming")

    def __init__(self, head_only: bool, write: Callable[[bytes], None] | None = None) -> None:
        self.head_only = head_only
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.streaming = False
        self._write = write

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
            more = bool(message.get("more_body", False))
            if self.streaming or (more and self._can_stream()):
                self._stream(message.get("body", b""), more)
                return
            self.body.append(message.get("body", b""))
            if not more:
                self.complete = True

    def _can_stream(self) -> bool:
        return (
            self._write is not None
            and not self.head_only
            and not self.body
            and all(name.lower() != b"content-length" for name, _ in self.headers)
        )

    def _stream(self, chunk: bytes, more: bool) -> None:
        assert self._write is not None
        data = []
        if not self.streaming:
            self.streaming = True
            head = [b"HTTP/1.1 %d %s\r\n" % (self.status, _REASONS.get(self.status, b""))]
            head += [b"%s: %s\r\n" % header for header in self.headers]
            head.append(b"transfer-encoding: chunked\r\n\r\n")
            data.append(b"".join(head))
        if chunk:
            data.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if not more:
            data.append(b"0\r\n\r\n")
            self.complete = True
        self._write(b"".join(data))

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
