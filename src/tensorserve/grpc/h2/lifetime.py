"""How long an h2 connection lives: the grpcio channel arguments the h2 server honours.

Behind a Kubernetes Service or an L4 load balancer, a gRPC client keeps one connection
for as long as it can, so replicas added later never see its calls. Servers bound
connection lifetimes for that (grpcio's ``grpc.max_connection_age_ms``), and the client
reconnects, through the balancer, without failing a call. These are the
``--grpc_channel_arguments`` that mean the same on the h2 server as on grpcio's; given
only these, ``--grpc_server=auto`` keeps the h2 server.

* ``grpc.max_connection_age_ms``: at that age (each connection's drawn within ±10%, as
  grpcio does, so connections made together do not all end together) the connection
  drains: GOAWAY, calls in flight answered, then closed.
* ``grpc.max_connection_age_grace_ms``: how long those calls get after the GOAWAY before
  the connection is closed under them (default: as long as they take).
* ``grpc.max_connection_idle_ms``: a connection with no call open this long drains.
* ``grpc.max_concurrent_streams``: calls at once per connection (SETTINGS).
* ``grpc.so_reuseport``: share the port (as ``--num_workers`` does).
* ``grpc.max_send_message_length`` / ``grpc.max_receive_message_length``: accepted and
  without effect, as on TensorFlow Serving, which sets both to INT32_MAX after the
  user's arguments.
* ``grpc.keepalive_time_ms``, ``grpc.keepalive_timeout_ms``,
  ``grpc.keepalive_permit_without_calls``, ``grpc.http2.min_ping_interval_without_data_ms``
  and ``grpc.http2.max_ping_strikes``: the server's pings and its policing of the
  client's, with grpcio's defaults (``keepalive.py``);
  ``grpc.http2.max_pings_without_data``: accepted and without effect, as on grpcio's
  server (grpc core reads it only on clients).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tensorserve.grpc.h2 import keepalive
from tensorserve.grpc.h2.keepalive import Keepalive

AGE = "grpc.max_connection_age_ms"
AGE_GRACE = "grpc.max_connection_age_grace_ms"
IDLE = "grpc.max_connection_idle_ms"
MAX_STREAMS = "grpc.max_concurrent_streams"
REUSE_PORT = "grpc.so_reuseport"
_OVERRIDDEN = ("grpc.max_send_message_length", "grpc.max_receive_message_length")
HONOURED = (AGE, AGE_GRACE, IDLE, MAX_STREAMS, REUSE_PORT, *keepalive.ARGUMENTS, *_OVERRIDDEN)
_ZERO_ALLOWED = (REUSE_PORT, *keepalive.ZERO_ALLOWED)
AGE_JITTER = 0.1
"""Each connection's age is drawn within this fraction of the configured one (grpcio's)."""
DEFAULT_MAX_STREAMS = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class Lifetime:
    """How long a connection lives; None is no limit."""

    age_s: float | None = None
    age_grace_s: float | None = None
    idle_s: float | None = None


UNLIMITED = Lifetime()


@dataclasses.dataclass(frozen=True, slots=True)
class H2Arguments:
    """What a list of channel arguments sets on the h2 server."""

    lifetime: Lifetime = UNLIMITED
    max_streams: int = DEFAULT_MAX_STREAMS
    reuse_port: bool = False
    keepalive: Keepalive = keepalive.DEFAULT


def honoured(arguments: Sequence[tuple[str, int | str]]) -> bool:
    """Whether the h2 server honours every one of ``arguments``, values included (one it
    would leave out sends ``--grpc_server=auto`` to grpcio, which reports it)."""
    return not h2_arguments(arguments)[1]


def h2_arguments(arguments: Sequence[tuple[str, int | str]]) -> tuple[H2Arguments, list[str]]:
    """What ``arguments`` set, and the ones left out: those the h2 server does not
    honour, and honoured ones whose value is not a positive integer (non-negative for
    ``grpc.so_reuseport``, ``grpc.keepalive_permit_without_calls``,
    ``grpc.http2.max_ping_strikes`` and ``grpc.http2.max_pings_without_data``), each as
    ``key=value``. grpcio, too, logs and
    skips an argument of the wrong type."""
    values: dict[str, int] = {}
    ignored: list[str] = []
    for key, value in arguments:
        bad_value = (
            not isinstance(value, int) or value < 0 or (value == 0 and key not in _ZERO_ALLOWED)
        )
        if key not in HONOURED or bad_value:
            ignored.append(f"{key}={value}")
        else:
            values[key] = int(value)
    limits = H2Arguments(
        lifetime=Lifetime(
            age_s=_seconds(values.get(AGE)),
            age_grace_s=_seconds(values.get(AGE_GRACE)),
            idle_s=_seconds(values.get(IDLE)),
        ),
        max_streams=values.get(MAX_STREAMS, DEFAULT_MAX_STREAMS),
        reuse_port=bool(values.get(REUSE_PORT, 0)),
        keepalive=Keepalive.from_arguments(values),
    )
    return limits, ignored


def _seconds(milliseconds: int | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000
