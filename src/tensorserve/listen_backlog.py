"""Connections waiting in a listen backlog, served instead of reset when a server stops.

The kernel completes a client's TCP handshake before the server accepts it, so a client
may already have sent its request when the server stops listening. Closing the listening
socket then resets every connection still queued on it, requests and all. A server that
keeps a duplicate of its listening socket (:func:`keep_backlog`) can, at its drain, close
its asyncio server and take what is queued through the duplicate
(:func:`adopt_backlog`): those connections are served like any other. A connection that
completes between the last ``accept`` and the ``close`` is still reset; the gap is kept to
one syscall.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Callable, Iterable

ADOPT_WAIT_S = 1.0
"""How long adopting waits for the connections' set-up (a TLS handshake may take a
moment; a stuck one is not waited for)."""


def keep_backlog(server: asyncio.Server) -> list[socket.socket]:
    """Duplicates of ``server``'s listening sockets: they keep the listen queues open
    after the loop closes its own, until :func:`adopt_backlog` closes them."""
    return [
        socket.socket(listener.family, listener.type, fileno=os.dup(listener.fileno()))
        for listener in server.sockets
    ]


async def adopt_backlog(
    listeners: Iterable[socket.socket],
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    ssl_context: ssl.SSLContext | None,
) -> None:
    """Accept what is queued on ``listeners`` (duplicates kept by :func:`keep_backlog`,
    whose server is closed already), serve each with ``protocol_factory``, close them."""
    loop = asyncio.get_running_loop()
    adopting: list[asyncio.Task[object]] = []
    for listener in listeners:
        try:
            listener.setblocking(False)
            while True:
                try:
                    sock, _address = listener.accept()
                except OSError:  # BlockingIOError: the backlog is empty
                    break
                sock.setblocking(False)
                adopting.append(
                    loop.create_task(
                        loop.connect_accepted_socket(protocol_factory, sock, ssl=ssl_context)
                    )
                )
        finally:
            listener.close()  # in the same loop turn as its last accept
    if adopting:
        await asyncio.wait(adopting, timeout=ADOPT_WAIT_S)
