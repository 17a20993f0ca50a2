"""Which of a ``--num_workers`` server's processes serves a connection.

The kernel spreads a server's connections over its processes (SO_REUSEPORT), so a
test that must see every process answer opens fresh connections until each
process holds one. The process on the far end of a TCP connection is the one
whose open sockets have the server's port locally and the client's port remotely.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import psutil
import pytest

from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

T = TypeVar("T")

#: ``--num_workers`` values for suites that run under both: one process, and one
#: transport worker beside the model process.
WORKERS = [pytest.param(1, id="workers1"), pytest.param(2, id="workers2")]

#: Fresh connections tried before giving up on reaching every process (the kernel
#: hashes each to a process: missing one of two after 64 tries is a 2^-63 chance).
MAX_CONNECTIONS = 64


def server_pids(server: ServerProcess) -> set[int]:
    """The model process and the transport workers running now."""
    root = psutil.Process(server.process.pid)
    return {root.pid, *(child.pid for child in root.children())}


def worker_pid(server: ServerProcess, pids: set[int]) -> int:
    """A transport worker among ``pids``, or the model process when it serves alone."""
    return max(pids - {server.process.pid}, default=server.process.pid)


def _client_connections(server: ServerProcess, server_port: int) -> Iterator[tuple[int, int]]:
    """(server pid, client port) of each established connection to ``server_port``."""
    for pid in server_pids(server):
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                established = conn.status == psutil.CONN_ESTABLISHED
                if established and conn.raddr and conn.laddr.port == server_port:
                    yield pid, conn.raddr.port


def pid_serving(server: ServerProcess, server_port: int, client_port: int) -> int | None:
    """The server process holding the connection from local ``client_port`` to
    ``server_port``, or None (not accepted yet, or closed)."""
    for pid, port in _client_connections(server, server_port):
        if port == client_port:
            return pid
    return None


def client_connections_by_pid(server: ServerProcess, server_port: int) -> dict[int, int]:
    """How many established client connections each server process holds on ``server_port``."""
    counts: dict[int, int] = {}
    for pid, _port in _client_connections(server, server_port):
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def _accepted_by(server: ServerProcess, port: int, client_port: int) -> int:
    """The process that accepted the connection from ``client_port`` (waiting for the
    accept: the kernel completes a connection before any process takes it)."""
    pid: int = wait_until(
        lambda: pid_serving(server, port, client_port), timeout=10, what="the connection accepted"
    )
    return pid


@contextlib.contextmanager
def _one_per_process(
    server: ServerProcess,
    port: int,
    open_one: Callable[[], tuple[T, int]],
    close: Callable[[T], None],
) -> Iterator[dict[int, T]]:
    """Open connections to ``port`` (``open_one``: the connection and its local port)
    until each server process holds one; those, by pid. Closes every one at the end."""
    held: dict[int, T] = {}
    spare: list[T] = []
    try:
        for _ in range(MAX_CONNECTIONS):
            connection, client_port = open_one()
            pid = _accepted_by(server, port, client_port)
            (spare if pid in held else []).append(connection)
            held.setdefault(pid, connection)
            if len(held) == server.workers:
                break
        assert len(held) == server.workers, f"reached only processes {sorted(held)}"
        yield held
    finally:
        for connection in [*held.values(), *spare]:
            close(connection)


def socket_on_each_process(
    server: ServerProcess, port: int
) -> contextlib.AbstractContextManager[dict[int, socket.socket]]:
    """A connected TCP socket to ``port`` held by each server process, by pid."""

    def open_one() -> tuple[socket.socket, int]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        return sock, sock.getsockname()[1]

    return _one_per_process(server, port, open_one, lambda sock: sock.close())


def rest_on_each_process(
    server: ServerProcess, method: str, path: str, body: dict | None = None
) -> dict[int, tuple[int, bytes]]:
    """Send one request through each server process (a fresh connection per request,
    until each has answered); each answer by pid."""
    payload = json.dumps(body).encode() if body is not None else None
    answers: dict[int, tuple[int, bytes]] = {}
    for _ in range(MAX_CONNECTIONS):
        connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
        try:
            connection.connect()
            assert connection.sock is not None
            pid = _accepted_by(server, server.rest_port, connection.sock.getsockname()[1])
            if pid not in answers:
                connection.request(method, path, payload)
                response = connection.getresponse()
                answers[pid] = (response.status, response.read())
        finally:
            connection.close()
        if len(answers) == server.workers:
            return answers
    raise AssertionError(f"reached only processes {sorted(answers)}")


def _own_connections(port: int) -> set[int]:
    """Local ports of this test process's connections to ``port``."""
    return {
        conn.laddr.port
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port
    }


#: A channel of its own connection: gRPC shares one between channels to the same
#: target by default, and this channel must make a new one.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def grpc_channel_on_each_process(
    server: ServerProcess,
    open_channel: Callable[[list[tuple[str, Any]]], grpc.Channel] | None = None,
) -> contextlib.AbstractContextManager[dict[int, grpc.Channel]]:
    """A connected channel held by each server process, by pid. ``open_channel(options)``
    makes one (default: plaintext to the server's gRPC port). Opens one channel at a
    time, so the connection it adds is the only new one to the port."""
    make = open_channel or (lambda options: grpc.insecure_channel(server.grpc_target, options))

    def open_one() -> tuple[grpc.Channel, int]:
        before = _own_connections(server.grpc_port)
        channel = make(OWN_CONNECTION)
        grpc.channel_ready_future(channel).result(timeout=30)
        [client_port] = _own_connections(server.grpc_port) - before
        return channel, client_port

    return _one_per_process(server, server.grpc_port, open_one, lambda channel: channel.close())
