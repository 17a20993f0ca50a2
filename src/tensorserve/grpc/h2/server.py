"""The h2 gRPC server, shaped like ``grpc.aio.Server`` where tensorserve uses it.

Handlers are registered as grpcio's (``add_generic_rpc_handlers``,
``add_registered_method_handlers``), ports bound with ``add_insecure_port`` /
``add_secure_port`` (TCP ``host:port`` or ``unix:path``), and ``start``, ``stop(grace)``
and ``wait_for_termination`` are coroutines. ``stop`` closes the listeners, drains each
connection (RFC 9113's two GOAWAYs with a PING between), lets calls in flight finish for
up to ``grace`` seconds, then cancels the rest. Connections still in the listen backlog
when it stops are taken and drained too (``listen_backlog.py``), not reset.
``lifetime`` bounds how long each connection lives (``lifetime.py``: grpcio's connection
age and idle arguments); ``keepalive`` pings quiet connections and polices the
client's pings (``keepalive.py``, grpcio's defaults).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import ssl
import tempfile
from collections.abc import Iterable, Mapping

import grpc

from tensorserve.grpc.h2.connection import (
    HANDSHAKE_TIMEOUT_S,
    Connection,
    Stream,
    apply_headers,
    run_call,
)
from tensorserve.grpc.h2.headers import Header, Metadata
from tensorserve.grpc.h2.keepalive import DEFAULT as DEFAULT_KEEPALIVE
from tensorserve.grpc.h2.keepalive import Keepalive
from tensorserve.grpc.h2.lifetime import DEFAULT_MAX_STREAMS, UNLIMITED, Lifetime
from tensorserve.listen_backlog import adopt_backlog, keep_backlog


class _CallDetails(grpc.HandlerCallDetails):
    """What a generic handler is asked to serve: the method's path and the metadata."""

    def __init__(self, method: str, invocation_metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


@dataclasses.dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM texts of the server's key and certificate, and of the CA that signs clients."""

    key: str
    cert: str
    client_ca: str = ""
    require_client_cert: bool = False


class H2Server:
    """A gRPC server on the running event loop (see the module's docstring)."""

    def __init__(
        self,
        *,
        max_concurrent_rpcs: int | None = None,
        reuse_port: bool = False,
        max_streams: int = DEFAULT_MAX_STREAMS,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        lifetime: Lifetime = UNLIMITED,
        keepalive: Keepalive = DEFAULT_KEEPALIVE,
    ) -> None:
        self._generic: list[grpc.GenericRpcHandler] = []
        self._registered: dict[str, grpc.RpcMethodHandler] = {}
        self._addresses: list[tuple[str, ssl.SSLContext | None]] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._backlogs: list[tuple[list[socket.socket], ssl.SSLContext | None]] = []
        """Duplicates of each server's listening sockets, with its TLS context."""
        self._reuse_port = reuse_port
        self._max_rpcs = max_concurrent_rpcs
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped: asyncio.Event | None = None
        self.max_streams = max_streams
        self.handshake_timeout_s = handshake_timeout_s
        self.lifetime = lifetime
        self.keepalive = keepalive
        self.connections: set[Connection] = set()

    # -- grpc.aio.Server's registration -------------------------------------------

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        for name, handler in handlers.items():
            self._registered[f"/{service}/{name}"] = handler

    def add_insecure_port(self, address: str) -> int:
        return self._add(address, None)

    def add_secure_port(self, address: str, tls: TlsFiles) -> int:
        return self._add(address, server_tls_context(tls))

    def _add(self, address: str, context: ssl.SSLContext | None) -> int:
        """Bind now (a port taken fails here, as grpcio's does); listen at ``start``."""
        if address.startswith("unix:"):
            self._addresses.append((address, context))
            return 0
        host, _, port_text = address.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, int(port_text)))
        except OSError:
            sock.close()
            raise
        port = int(sock.getsockname()[1])
        self._addresses.append((f"fd:{sock.detach()}", context))
        return port

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        for address, context in self._addresses:
            server: asyncio.AbstractServer
            if address.startswith("unix:"):
                path = address[len("unix:") :]
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                server = await loop.create_unix_server(lambda: Connection(self), path, ssl=context)
            else:
                sock = socket.socket(fileno=int(address[len("fd:") :]))
                server = await loop.create_server(
                    lambda: Connection(self), sock=sock, ssl=context, backlog=1024
                )
            self._servers.append(server)
            self._backlogs.append((keep_backlog(server), context))

    async def stop(self, grace: float | None) -> None:
        for server in self._servers:
            server.close()
        # Connections the kernel accepted but the loop had not: served, not reset.
        backlogs, self._backlogs = self._backlogs, []
        for listeners, context in backlogs:
            await adopt_backlog(listeners, lambda: Connection(self), context)
        for connection in list(self.connections):
            connection.go_away()
        if self._tasks:  # grace None: end every call now, as grpc.aio's stop(None) does
            _, running = await asyncio.wait(set(self._tasks), timeout=grace or 0)
            for task in running:
                task.cancel()
        for connection in list(self.connections):
            connection.final_goaway()
            for stream in list(connection.streams.values()):
                stream.finish(grpc.StatusCode.UNAVAILABLE, "The server is shutting down")
            if connection.transport is not None:
                connection.transport.close()
        if self._stopped is not None:
            self._stopped.set()

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        if self._stopped is None:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout)
        return self._stopped.is_set()

    # -- calls ---------------------------------------------------------------------------

    def start_call(self, stream: Stream, headers: list[Header], ended: bool) -> None:
        """Find the handler for a new call and run it as a task (or answer at once)."""
        self._active += 1
        method, code, details = apply_headers(stream, headers)
        if code != grpc.StatusCode.OK:
            stream.finish(code, details)
            return
        if self._max_rpcs is not None and self._active > self._max_rpcs:
            stream.finish(grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")
            return
        handler = self._handler(method, stream)
        if handler is None:
            stream.finish(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            return
        if ended:
            stream.received(b"", True)
        task = asyncio.get_running_loop().create_task(run_call(stream, handler))
        stream.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if stream.deadline is not None:
            stream.timer = asyncio.get_running_loop().call_at(stream.deadline, stream.expire)

    def end_call(self) -> None:
        self._active -= 1

    def _handler(self, method: str, stream: Stream) -> grpc.RpcMethodHandler | None:
        handler = self._registered.get(method)
        if handler is not None:
            return handler
        details = _CallDetails(method, stream.metadata)
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                return handler
        return None


def server_tls_context(tls: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2+ offering ``h2`` by ALPN; client certificates checked against
    ``client_ca`` when one is given, and required with ``require_client_cert``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    with tempfile.TemporaryDirectory() as directory:  # the ssl module loads keys from files
        key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
        for path, text in ((key, tls.key), (cert, tls.cert)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
                file.write(text)
        context.load_cert_chain(cert, key)
    if tls.client_ca:
        context.load_verify_locations(cadata=tls.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    return context
