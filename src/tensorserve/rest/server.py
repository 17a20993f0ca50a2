"""Serving the REST app inside an event loop the caller already runs.

The gRPC server shares the loop, so :class:`RestServer` binds its own socket
(so port 0 reports the port it got), serves connections with
:mod:`tensorserve.rest.http_protocol`, and leaves signals to the composition
root. ``stop`` drains: it stops accepting, answers every request whose bytes
reach a connection (the last one on each with ``Connection: close``), closes each
connection once it is idle and quiet, and aborts what is left at the deadline.
``begin_drain``, ``wait_drained`` and ``close`` are its three steps, for a caller
that sequences the REST drain with others.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

from tensorserve.listen_backlog import adopt_backlog
from tensorserve.rest.asgi import ASGIApp
from tensorserve.rest.connection_set import ConnectionLimits, ConnectionSet
from tensorserve.rest.http_protocol import HttpConnection

#: Loop turns between asyncio accepting a socket and its connection registering.
_ACCEPT_TURNS = 3


class RestServer:
    """One HTTP(S) listener for an ASGI app. Call every method from the event loop.

    ``host`` "" or None listens on every interface (IPv6 and IPv4 where the
    system allows, else IPv4 only), as TensorFlow Serving does.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str | None,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        max_body_bytes: int = 256 * 1024 * 1024,
        keep_alive_s: float = 60.0,
        read_timeout_s: float = 60.0,
        backlog: int = 2048,
        reuse_port: bool = False,
    ) -> None:
        self._app = app
        self._host = host or ""
        self._port = port
        self._ssl_context = ssl_context
        self._limits = ConnectionLimits(max_body_bytes, keep_alive_s, read_timeout_s)
        self._backlog = backlog
        self._reuse_port = reuse_port
        self._connections: ConnectionSet[HttpConnection] = ConnectionSet()
        self._server: asyncio.Server | None = None
        self._socket: socket.socket | None = None
        self._bound_port: int | None = None
        self._draining = False

    @property
    def port(self) -> int:
        """The bound port (the one the OS picked when constructed with 0); after start()."""
        if self._bound_port is None:
            raise RuntimeError("RestServer is not started")
        return self._bound_port

    async def start(self) -> None:
        """Bind and listen; returns once connections are being accepted."""
        if self._server is not None:
            raise RuntimeError("RestServer already started")
        listener = _bind(self._host, self._port, self._backlog, self._reuse_port)
        self._bound_port = int(listener.getsockname()[1])
        # The loop owns (and on close, closes) the socket it is given; ours is a
        # duplicate, through which begin_drain takes over the listen backlog.
        self._socket = listener.dup()
        scheme = "https" if self._ssl_context else "http"
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._connection(scheme),
            sock=listener,
            ssl=self._ssl_context,
            backlog=self._backlog,
        )

    async def stop(self, grace_s: float) -> None:
        """Drain for up to ``grace_s`` seconds, then close whatever is left."""
        await self.begin_drain()
        await self.wait_drained(grace_s)
        await self.close()

    async def begin_drain(self) -> None:
        """Stop accepting; every connection answers what it receives and then closes.

        Connections the kernel already accepted (still in the listen backlog) are
        taken over first: closing the listener would reset them, requests and all.
        """
        if self._server is not None and not self._draining:
            self._draining = True
            self._server.close()
            backlog, self._socket = self._socket, None
            self._connections.drain_all()
            if backlog is not None:
                await self._serve_backlog(backlog)
        self._connections.drain_all()

    async def _serve_backlog(self, listener: socket.socket) -> None:
        """Accept what is queued on ``listener`` (a dup of ours), then close it."""
        scheme = "https" if self._ssl_context else "http"
        await adopt_backlog([listener], lambda: self._connection(scheme), self._ssl_context)

    def _connection(self, scheme: str) -> HttpConnection:
        return HttpConnection(self._app, self._limits, self._connections, scheme)

    async def wait_drained(self, timeout_s: float) -> bool:
        """Wait until every connection has closed, for up to ``timeout_s``; True if they did.

        The set is read again after each wait: a connection the event loop accepted
        just before the listener closed registers a few loop turns later, and
        :meth:`close` would abort it, request and all.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_s, 0.0)
        settled_turns = 0
        while True:
            pending = {c.closed for c in self._connections if not c.closed.done()}
            if not pending:
                if settled_turns >= _ACCEPT_TURNS:
                    return True
                settled_turns += 1
                await asyncio.sleep(0)  # let accepts already under way register
                continue
            settled_turns = 0
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(pending, timeout=remaining)

    async def close(self) -> None:
        """Abort the connections still open and release the listening socket."""
        server, self._server = self._server, None
        listener, self._socket = self._socket, None
        if listener is not None:
            listener.close()
        for connection in self._connections:
            connection.abort()
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=1.0)


def _bind(host: str, port: int, backlog: int, reuse_port: bool = False) -> socket.socket:
    """A listening socket: dual-stack ``::`` for "", falling back to IPv4; with
    ``reuse_port``, one that ``--num_workers`` processes share (SO_REUSEPORT)."""
    if host:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        candidates = [(family, host)]
    else:
        candidates = [(socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")]
    last_error: OSError | None = None
    for family, address in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and not host:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((address, port))
            sock.listen(backlog)
            sock.setblocking(False)
            return sock
        except OSError as error:
            sock.close()
            last_error = error
    assert last_error is not None
    raise last_error
