"""What one HTTP server shares with all its connections: their limits, and the open set.

Event loop only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class Connection(Protocol):
    """What the set needs of a connection (``HttpConnection``)."""

    def drain(self) -> None: ...


C = TypeVar("C", bound=Connection)


class ConnectionLimits:
    """Per-connection limits shared by every connection of one server.

    ``drain_idle_s``: while draining, how long a connection must have been idle
    before it is closed (a request sent just before the drain is still answered).
    ``linger_s``: after our FIN, how long to wait for the client's before aborting.
    """

    __slots__ = ("drain_idle_s", "idle_timeout_s", "linger_s", "max_body_bytes", "read_timeout_s")

    def __init__(
        self,
        max_body_bytes: int,
        idle_timeout_s: float = 60.0,
        read_timeout_s: float = 60.0,
        drain_idle_s: float = 0.5,
        linger_s: float = 2.0,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.idle_timeout_s = idle_timeout_s
        self.read_timeout_s = read_timeout_s
        self.drain_idle_s = drain_idle_s
        self.linger_s = linger_s


class ConnectionSet(Generic[C]):
    """The open connections of one server, and whether the server is draining.

    A connection registers when its transport is made; one made after the drain
    began (accepted in the same loop turn, or taken from the listen backlog) is
    drained at once. Event loop only.
    """

    def __init__(self) -> None:
        self._open: set[C] = set()
        self.draining = False

    def add(self, connection: C) -> None:
        self._open.add(connection)
        if self.draining:
            connection.drain()

    def discard(self, connection: C) -> None:
        self._open.discard(connection)

    def drain_all(self) -> None:
        """From now on every connection, open or yet to come, drains."""
        self.draining = True
        for connection in list(self._open):
            connection.drain()

    def __iter__(self) -> Iterator[C]:
        return iter(list(self._open))

    def __len__(self) -> int:
        return len(self._open)
