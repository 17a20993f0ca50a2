"""The read side of one HTTP/1.1 connection as an explicit state machine.

Legal transitions (anything else raises :class:`IllegalTransition`)::

    IDLE ──first byte──▶ READING ──request complete──▶ IDLE
      │                    │
      │                    ├──malformed / too large / read timeout──▶ REFUSED
      │                    │
      ├──────── malformed ─┼──────────────────────────────────────────▶ REFUSED
      │                    │                                             │
      └─ idle timeout, ────┴─ last response said                         │ refusal written
         drain quiet          "Connection: close" ──▶ CLOSING ◀──────────┘
                                                        │ client's EOF or linger timeout
    any state ──connection lost──▶ CLOSED ◀─────────────┘

* ``IDLE``: no byte of a next request yet. Requests already received may still be
  queued or being answered; pipelining overlaps answering with ``READING``.
* ``READING``: a request's head or body is arriving (the read timeout runs).
* ``REFUSED``: the input cannot be read further (a framing error, a body over the
  limit, a read timeout). Requests received before it are answered in order,
  then the refusal, then the connection closes. Later input is discarded.
* ``CLOSING``: the last response is written and our side is shut (FIN); input is
  read and discarded until the client closes too, so unread bytes never make the
  kernel reset the connection and destroy that response ("lingering close").
* ``CLOSED``: the transport is gone.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ConnectionState(enum.Enum):
    """Where a connection's input stands; see the module docstring for transitions."""

    IDLE = "idle"
    READING = "reading"
    REFUSED = "refused"
    CLOSING = "closing"
    CLOSED = "closed"


_S = ConnectionState
NEXT_STATES: Mapping[ConnectionState, frozenset[ConnectionState]] = {
    _S.IDLE: frozenset({_S.READING, _S.REFUSED, _S.CLOSING, _S.CLOSED}),
    _S.READING: frozenset({_S.IDLE, _S.REFUSED, _S.CLOSING, _S.CLOSED}),
    _S.REFUSED: frozenset({_S.CLOSING, _S.CLOSED}),
    _S.CLOSING: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
}
"""The legal next states of each state."""


class IllegalTransition(RuntimeError):
    """A bug: the connection tried a transition the table does not allow."""

    def __init__(self, current: ConnectionState, requested: ConnectionState) -> None:
        super().__init__(f"HTTP connection cannot go from {current.name} to {requested.name}")
        self.current = current
        self.requested = requested


def checked_transition(current: ConnectionState, requested: ConnectionState) -> ConnectionState:
    """``requested`` if the table allows it from ``current``; raises otherwise."""
    if requested not in NEXT_STATES[current]:
        raise IllegalTransition(current, requested)
    return requested
