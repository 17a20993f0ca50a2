"""Keepalive pings, both ways, as grpcio's server has them (grpc's ``doc/keepalive.md``).

The server pings a connection that has sent nothing for ``grpc.keepalive_time_ms``
(2 hours by default) while a call is open on it, or always with
``grpc.keepalive_permit_without_calls``, and closes it when the PING is not
acknowledged within ``grpc.keepalive_timeout_ms`` (20 s). A peer that vanished
without a FIN (a node gone, a NAT entry dropped) then stops holding its calls and
its socket. A short time also keeps idle connections open through balancers and
NATs that drop quiet ones (an AWS NLB after 350 s).

The server also polices the client's pings as grpc core's ``Chttp2PingAbusePolicy``
does: a PING sooner than ``grpc.http2.min_ping_interval_without_data_ms`` (5 minutes)
after the previous one, or sooner than 2 hours while no call is open (unless calls
are not required), is a strike; past ``grpc.http2.max_ping_strikes`` strikes (2; 0
is no limit) the connection ends with GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
Sending HEADERS or DATA clears the strikes. So a client whose keepalive settings
TensorFlow Serving refuses is refused here too, and a PING flood ends quickly.

``grpc.http2.max_pings_without_data`` is accepted and, as on grpcio's server, has no
effect: grpc core reads it only on clients (``Chttp2PingRatePolicy`` sets a server's
limit to 0, none), so the server's keepalive pings never wait for data. Deployments
copy it into server flags beside the keepalive arguments; refusing it would move
``--grpc_server=auto`` to grpcio's server for nothing.
"""

from __future__ import annotations

import dataclasses
import math

TIME = "grpc.keepalive_time_ms"
TIMEOUT = "grpc.keepalive_timeout_ms"
PERMIT_WITHOUT_CALLS = "grpc.keepalive_permit_without_calls"
MIN_PING_INTERVAL = "grpc.http2.min_ping_interval_without_data_ms"
MAX_PING_STRIKES = "grpc.http2.max_ping_strikes"
MAX_PINGS_WITHOUT_DATA = "grpc.http2.max_pings_without_data"
"""A client's limit; a server ignores it (module docstring)."""
ARGUMENTS = (
    TIME,
    TIMEOUT,
    PERMIT_WITHOUT_CALLS,
    MIN_PING_INTERVAL,
    MAX_PING_STRIKES,
    MAX_PINGS_WITHOUT_DATA,
)
ZERO_ALLOWED = (PERMIT_WITHOUT_CALLS, MAX_PING_STRIKES, MAX_PINGS_WITHOUT_DATA)
"""The arguments whose 0 means something (false; no limit)."""

IDLE_PING_INTERVAL_S = 7200.0
"""The least time between a client's pings while no call is open (RFC 1122's TCP
keepalive floor, as grpc core has it)."""
_INT32_MAX_MS = 2**31 - 1
"""grpcio's "never" for a keepalive time."""


@dataclasses.dataclass(frozen=True, slots=True)
class Keepalive:
    """grpcio's server defaults; ``time_s`` None sends no keepalive pings."""

    time_s: float | None = 7200.0
    timeout_s: float = 20.0
    permit_without_calls: bool = False
    min_ping_interval_s: float = 300.0
    max_ping_strikes: int = 2

    @classmethod
    def from_arguments(cls, values: dict[str, int]) -> Keepalive:
        """From the (checked) integer values of :data:`ARGUMENTS` that were given."""
        default = cls()
        time_ms = values.get(TIME)
        time_s = default.time_s if time_ms is None else time_ms / 1000
        if time_ms is not None and time_ms >= _INT32_MAX_MS:
            time_s = None
        timeout_ms = values.get(TIMEOUT)
        interval_ms = values.get(MIN_PING_INTERVAL)
        return cls(
            time_s=time_s,
            timeout_s=default.timeout_s if timeout_ms is None else timeout_ms / 1000,
            permit_without_calls=bool(values.get(PERMIT_WITHOUT_CALLS, 0)),
            min_ping_interval_s=(
                default.min_ping_interval_s if interval_ms is None else interval_ms / 1000
            ),
            max_ping_strikes=values.get(MAX_PING_STRIKES, default.max_ping_strikes),
        )


DEFAULT = Keepalive()


class PingPolicy:
    """One connection's count of pings that came too soon (not thread-safe: the loop's)."""

    __slots__ = ("_keepalive", "_last", "_strikes", "count")

    def __init__(self, keepalive: Keepalive) -> None:
        self._keepalive = keepalive
        self._last = -math.inf
        self._strikes = 0
        self.count = 0
        """PINGs received (not ACKs)."""

    def received(self, now: float, calls_open: bool) -> bool:
        """Count a PING received at ``now``; True when it is one strike too many."""
        self.count += 1
        keepalive = self._keepalive
        if calls_open or keepalive.permit_without_calls:
            interval = keepalive.min_ping_interval_s
        else:
            interval = IDLE_PING_INTERVAL_S
        too_soon = now < self._last + interval
        self._last = now
        if not too_soon:
            return False
        self._strikes += 1
        return keepalive.max_ping_strikes != 0 and self._strikes > keepalive.max_ping_strikes

    def reset(self) -> None:
        """HEADERS or DATA went out: the client's next pings start afresh."""
        self._last = -math.inf
        self._strikes = 0
