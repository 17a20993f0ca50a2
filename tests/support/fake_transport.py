"""An in-memory stand-in for an asyncio TCP transport, and a parser for what was written.

Drives an ``asyncio.Protocol`` without sockets: the test feeds bytes with
``protocol.data_received`` and reads back ``transport.written``. Closing
reports ``connection_lost`` on the next loop iteration, as a real transport does.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httptools


class FakeTransport:
    """Records writes, FIN, pauses and closes. Call from the event loop."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        self._protocol = protocol
        self.written = bytearray()
        self.eof_written = False
        self.closed = False
        self.aborted = False
        self.reading = True

    def connect(self) -> FakeTransport:
        self._protocol.connection_made(self)  # type: ignore[arg-type]
        return self

    # -- the transport interface the protocol uses --------------------------------

    def write(self, data: bytes) -> None:
        assert not self.eof_written, "write after write_eof"
        assert not self.closed, "write after close"
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8501)}.get(
            name, default
        )

    # -- what a client does ----------------------------------------------------------

    def client_sends(self, data: bytes) -> None:
        self._protocol.data_received(data)

    def client_closes_its_side(self) -> None:
        """The client's FIN: the protocol may keep the transport open to answer."""
        if not self._protocol.eof_received():
            self.close()


@dataclasses.dataclass
class ParsedResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def parse_responses(data: bytes) -> list[ParsedResponse]:
    """Every complete response in ``data``, in order, interim ``100 Continue`` included.

    Not for answers to HEAD, whose Content-Length describes a body that is not sent.
    """
    responses: list[ParsedResponse] = []

    class Collector:
        def __init__(self) -> None:
            self.headers: dict[str, str] = {}
            self.body = bytearray()

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers[name.decode().lower()] = value.decode()

        def on_body(self, body: bytes) -> None:
            self.body += body

        def on_message_complete(self) -> None:
            status = parser.get_status_code()
            responses.append(ParsedResponse(status, self.headers, bytes(self.body)))
            self.headers = {}
            self.body = bytearray()

    parser = httptools.HttpResponseParser(Collector())
    parser.feed_data(bytes(data))
    return responses
