"""How the kernel spreads TCP connections over processes sharing a port (SO_REUSEPORT).

Each acceptor (``python -m harness.reuseport_spread PORT INDEX``, ``benchmarks/`` on
the path) binds 127.0.0.1:PORT with SO_REUSEPORT (PORT 0: a free one, printed),
answers every connection with its index byte and closes it. The client side counts the
bytes: short connections from concurrent threads, and groups of connections held
open together (a load generator's or a gRPC channel's long-lived connections), whose
split decides how evenly a fixed set of clients loads the workers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from harness import parent_watch

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]


def acceptor(port: int, index: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(256)
        print(f"ready {listener.getsockname()[1]}", flush=True)
        answer = bytes([index])
        while True:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(answer)


@contextlib.contextmanager
def acceptors(count: int) -> Iterator[int]:
    """``count`` acceptor processes on one free port; yields the port."""
    env = {**os.environ, "PYTHONPATH": f"{BENCHMARKS_DIR}{os.pathsep}"}
    children: list[subprocess.Popen[bytes]] = []
    port = 0
    try:
        for index in range(count):
            child = subprocess.Popen(
                [sys.executable, "-m", "harness.reuseport_spread", str(port), str(index)],
                stdin=subprocess.PIPE,  # closes when this process ends: the child exits
                stdout=subprocess.PIPE,
                env=env,
            )
            children.append(child)
            assert child.stdout is not None
            line = child.stdout.readline().split()
            if not line or line[0] != b"ready":
                raise RuntimeError(f"acceptor {index} exited with {child.wait()}")
            port = int(line[1])
        yield port
    finally:
        for child in children:
            child.kill()
            child.wait()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port))


def _read_index(connection: socket.socket) -> int:
    with connection:
        data = connection.recv(1)
        if not data:
            raise ConnectionError("the acceptor closed without answering")
        return data[0]


def short_connections(port: int, total: int, threads: int, workers: int) -> list[int]:
    """Connections per acceptor for ``total`` one-shot connections from ``threads``."""
    counts = [[0] * workers for _ in range(threads)]

    def connect(thread: int) -> None:
        for _ in range(total // threads):
            counts[thread][_read_index(_connect(port))] += 1

    started = [threading.Thread(target=connect, args=(t,)) for t in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return [sum(per_thread[w] for per_thread in counts) for w in range(workers)]


def held_groups(port: int, group: int, trials: int, workers: int) -> list[list[int]]:
    """Per trial, connections per acceptor when ``group`` connections are open at once."""
    splits = []
    for _ in range(trials):
        connections = [_connect(port) for _ in range(group)]
        split = [0] * workers
        for connection in connections:
            split[_read_index(connection)] += 1
        splits.append(split)
    return splits


if __name__ == "__main__":
    parent_watch.exit_with_parent()
    acceptor(int(sys.argv[1]), int(sys.argv[2]))
