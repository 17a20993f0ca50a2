"""Which grpcio channel arguments the h2 server honours, and what they set."""

from __future__ import annotations

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
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.max_connection_age_ms", "soon"),
        ("grpc.max_connection_idle_ms", 0),
        ("grpc.max_connection_age_grace_ms", 250),
    ]
    assert not honoured(arguments)
    limits, ignored = h2_arguments(arguments)
    assert limits.lifetime == Lifetime(age_grace_s=0.25)
    assert ignored == [
        "grpc.keepalive_time_ms=1000",
        "grpc.max_connection_age_ms=soon",
        "grpc.max_connection_idle_ms=0",
    ]
