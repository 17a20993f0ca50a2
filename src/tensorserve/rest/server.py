"""Serving the REST app with uvicorn inside an event loop the caller already runs.

The gRPC server shares the loop, so uvicorn's own ``run()``/``serve()`` (which
make a loop and take over SIGINT/SIGTERM) are not used: :class:`RestServer`
binds the socket itself (so port 0 reports the port it got), drives uvicorn's
startup, tick loop and shutdown, and leaves signals to the composition root.
uvicorn runs with httptools, no access log, no lifespan and no concurrency limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import ssl

import uvicorn

from tensorserve.rest.asgi import ASGIApp


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
        keep_alive_s: float = 60.0,
        backlog: int = 2048,
        access_log: bool = False,
    ) -> None:
        self._config = uvicorn.Config(
            app,
            host=host or "",
            port=port,
            http="httptools",
            ws="none",
            lifespan="off",
            interface="asgi3",
            access_log=access_log,
            log_config=None,
            server_header=False,
            limit_concurrency=None,
            timeout_keep_alive=int(keep_alive_s),
            backlog=backlog,
            h11_max_incomplete_event_size=64 * 1024,
        )
        self._host = host or ""
        self._port = port
        self._ssl_context = ssl_context
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (the one the OS picked when constructed with 0); after start()."""
        if self._socket is None:
            raise RuntimeError("RestServer is not started")
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Bind and listen; returns once connections are being accepted."""
        if self._server is not None:
            raise RuntimeError("RestServer already started")
        self._config.load()
        self._config.ssl = self._ssl_context
        self._socket = _bind(self._host, self._port, self._config.backlog)
        server = uvicorn.Server(self._config)
        server.lifespan = self._config.lifespan_class(self._config)
        await server.startup(sockets=[self._socket])
        self._server = server
        self._ticker = asyncio.create_task(server.main_loop(), name="rest-server-ticker")

    async def stop(self, grace_s: float) -> None:
        """Stop accepting, let in-flight requests finish for up to ``grace_s`` (whole seconds,
        rounded up; uvicorn's unit), then close."""
        server, ticker = self._server, self._ticker
        if server is None or ticker is None:
            return
        self._config.timeout_graceful_shutdown = max(math.ceil(grace_s), 0)
        server.should_exit = True
        await ticker
        await server.shutdown(sockets=[self._socket] if self._socket else None)
        self._server = self._ticker = None


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket: dual-stack ``::`` for "", falling back to IPv4."""
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
