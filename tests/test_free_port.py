"""The tests' free_port: never the same port twice in one process.

The kernel can hand one port to two binds in a row; a server started with it as both
``--port`` and ``--rest_api_port`` serves gRPC alone, and its test waited two minutes
for a REST health check that got HTTP/2 frames (a red CI run)."""

from __future__ import annotations

import socket

from tests.support.server_process import free_port


def test_ports_handed_out_are_all_different() -> None:
    # 2,000 draws from ~28,000 ephemeral ports repeat dozens of times by chance alone.
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)


def test_a_port_handed_out_can_be_bound() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", free_port()))
