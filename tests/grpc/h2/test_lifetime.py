"""Which grpcio channel arguments the h2 server honours, and what they set."""

from __future__ import annotations

import pytest

from tensorserve.grpc.h2.keepalive import Keepalive
from tensorserve.grpc.h2.lifetime import (
    DEFAULT_MAX_STREAMS,
    H2Arguments,
    Lifetime,
    h2_arguments,
    honoured,
)


def test_lifetime_arguments_become_seconds_and_limits() -> None:
    arguments = [
        ("grpc.max_connection_age_ms", 30_000),
        ("grpc.max_connection_age_grace_ms", 5_000),
        ("grpc.max_connection_idle_ms", 60_000),
        ("grpc.max_concurrent_streams", 64),
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", 1024),  # TF Serving overrides it: no effect
    ]
    assert honoured(arguments)
    assert h2_arguments(arguments) == (
        H2Arguments(Lifetime(30.0, 5.0, 60.0), max_streams=64, reuse_port=True),
        [],
    )


def test_no_arguments_is_no_limit() -> None:
    assert honoured([])
    assert h2_arguments([]) == (H2Arguments(Lifetime(), DEFAULT_MAX_STREAMS, False), [])


def test_other_arguments_and_bad_values_are_left_out_and_named() -> None:
    arguments: list[tuple[str, int | str]] = [
        ("grpc.http2.bdp_probe", 1),
        ("grpc.max_connection_age_ms", "soon"),
        ("grpc.max_connection_idle_ms", 0),
        ("grpc.max_connection_age_grace_ms", 250),
    ]
    assert not honoured(arguments)
    limits, ignored = h2_arguments(arguments)
    assert limits.lifetime == Lifetime(age_grace_s=0.25)
    assert ignored == [
        "grpc.http2.bdp_probe=1",
        "grpc.max_connection_age_ms=soon",
        "grpc.max_connection_idle_ms=0",
    ]


def test_keepalive_arguments_become_its_settings_zero_where_it_means_something() -> None:
    arguments: list[tuple[str, int | str]] = [
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),  # no limit
    ]
    assert honoured(arguments)
    assert h2_arguments(arguments)[0].keepalive == Keepalive(30.0, 5.0, True, 10.0, 0)
    assert h2_arguments([])[0].keepalive == Keepalive(7200.0, 20.0, False, 300.0, 2)
    never = [("grpc.keepalive_time_ms", 2**31 - 1), ("grpc.keepalive_permit_without_calls", 0)]
    assert h2_arguments(never) == (H2Arguments(keepalive=Keepalive(time_s=None)), [])
    assert h2_arguments([("grpc.keepalive_time_ms", 0)])[1] == ["grpc.keepalive_time_ms=0"]


@pytest.mark.parametrize("limit", [0, 1, 2])
def test_max_pings_without_data_is_accepted_and_changes_nothing_as_on_grpcios_server(
    limit: int,
) -> None:
    # grpc core applies it to clients only: a server's keepalive pings never wait for data.
    arguments: list[tuple[str, int | str]] = [
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.http2.max_pings_without_data", limit),
    ]
    assert honoured(arguments)
    assert h2_arguments(arguments) == (H2Arguments(keepalive=Keepalive(time_s=60.0)), [])
