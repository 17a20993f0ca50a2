"""The h2 server's keepalive pings and its policing of the client's pings (grpcio's)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from concurrent import futures
from typing import Any

import grpc
import pytest

from tensorserve.grpc.h2 import frames
from tensorserve.grpc.h2.keepalive import IDLE_PING_INTERVAL_S, Keepalive, PingPolicy
from tensorserve.grpc.h2.lifetime import h2_arguments
from tests.grpc.h2.test_server import (
    SERVICE,
    RawClient,
    _held_methods,
    goaway,
    next_ping,
    serving,
)
from tests.support.waiting import wait_until


def test_pings_sooner_than_the_interval_are_strikes_and_the_third_ends_it() -> None:
    policy = PingPolicy(Keepalive(min_ping_interval_s=10.0, max_ping_strikes=2))
    assert not policy.received(0.0, calls_open=True)  # the first is always fine
    assert not policy.received(10.0, calls_open=True)  # on time
    assert not policy.received(11.0, calls_open=True)  # strike 1
    assert not policy.received(12.0, calls_open=True)  # strike 2
    assert policy.received(13.0, calls_open=True)  # strike 3: too many


def test_without_calls_the_interval_is_two_hours_unless_permitted() -> None:
    idle = PingPolicy(Keepalive(min_ping_interval_s=10.0, max_ping_strikes=1))
    assert not idle.received(0.0, calls_open=False)
    assert not idle.received(100.0, calls_open=False)  # strike 1: not 2 h apart
    assert not idle.received(100.0 + IDLE_PING_INTERVAL_S, calls_open=False)
    assert idle.received(101.0 + IDLE_PING_INTERVAL_S, calls_open=False)
    permitted = PingPolicy(Keepalive(min_ping_interval_s=10.0, permit_without_calls=True))
    for at in (0.0, 10.0, 20.0, 30.0):
        assert not permitted.received(at, calls_open=False)


def test_sending_headers_or_data_clears_the_strikes_and_zero_is_no_limit() -> None:
    policy = PingPolicy(Keepalive(min_ping_interval_s=10.0, max_ping_strikes=1))
    assert not policy.received(0.0, calls_open=True)
    assert not policy.received(1.0, calls_open=True)  # strike 1
    policy.reset()
    assert not policy.received(2.0, calls_open=True)  # first since the reset
    assert not policy.received(3.0, calls_open=True)  # strike 1 again
    unlimited = PingPolicy(Keepalive(max_ping_strikes=0))
    assert not any(unlimited.received(float(at), calls_open=True) for at in range(100))


def _closed(client: RawClient) -> bool:
    with contextlib.suppress(EOFError, ConnectionError):
        while True:
            client.next_frame()
    return True


def test_a_client_pinging_too_often_without_calls_gets_too_many_pings() -> None:
    with serving({}) as (port, _, _), contextlib.closing(RawClient(port)) as client:
        for _ in range(4):  # grpcio's defaults: 2 strikes allowed, the third ends it
            client.send(frames.frame(frames.PING, 0, 0, b"12345678"))
        assert goaway(client) == (0, frames.ENHANCE_YOUR_CALM, b"too_many_pings")
        assert _closed(client)


def test_pings_between_answers_are_not_strikes() -> None:
    methods = {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    with serving(methods) as (port, _, _), contextlib.closing(RawClient(port)) as client:
        for stream in range(1, 12, 2):
            client.send(frames.frame(frames.PING, 0, 0, b"12345678"))
            client.send(client.request(stream, f"/{SERVICE}/Echo", b"x"))
            got = client.frames_until(frames.HEADERS, stream, frames.END_STREAM)
            assert (b"grpc-status", b"0") in client.decoder.decode(got[-1][2], raw=True)


async def _echo(request: bytes, context: object) -> bytes:
    return request


def test_a_quiet_connection_with_a_call_open_is_pinged_and_kept_while_it_answers() -> None:
    release = asyncio.Event()  # never set: the call stays open
    keepalive = Keepalive(time_s=0.1, timeout_s=5.0)
    with (
        serving(_held_methods(release), keepalive=keepalive) as (port, _, _),
        contextlib.closing(RawClient(port)) as client,
    ):
        client.send(client.request(1, f"/{SERVICE}/Held", b""))
        for _ in range(3):  # each ACK starts the next wait
            payload = next_ping(client)
            client.send(frames.frame(frames.PING, frames.ACK, 0, payload))


def test_a_client_that_does_not_answer_the_keepalive_ping_is_closed() -> None:
    release = asyncio.Event()
    keepalive = Keepalive(time_s=0.1, timeout_s=0.2)
    with (
        serving(_held_methods(release), keepalive=keepalive) as (port, _, _),
        contextlib.closing(RawClient(port)) as client,
    ):
        client.send(client.request(1, f"/{SERVICE}/Held", b""))
        next_ping(client)  # and no ACK: the peer is as good as gone
        assert _closed(client)


def test_no_call_open_no_keepalive_ping_unless_permitted() -> None:
    quiet = Keepalive(time_s=0.1, timeout_s=0.2)
    with serving({}, keepalive=quiet) as (port, _, _), contextlib.closing(RawClient(port)) as c:
        c.sock.settimeout(0.6)  # several keepalive times, and the client is not closed
        with pytest.raises(socket.timeout):
            next_ping(c)
    permitted = Keepalive(time_s=0.1, timeout_s=5.0, permit_without_calls=True)
    with serving({}, keepalive=permitted) as (port, _, _), contextlib.closing(RawClient(port)) as c:
        c.send(frames.frame(frames.PING, frames.ACK, 0, next_ping(c)))
        next_ping(c)


def _peers_across_client_pings(server_keepalive: Keepalive, sent_away: bool) -> set[str]:
    """grpcio's client pinging as often as it may (about once a second), idle between
    two calls, until the server sent it away (``sent_away``) or took four of its PINGs;
    the connections its calls came on."""
    peers: set[str] = set()

    async def where(request: bytes, context: Any) -> bytes:
        peers.add(context.peer())
        return request

    methods = {"Where": grpc.unary_unary_rpc_method_handler(where)}
    options = [
        ("grpc.keepalive_time_ms", 100),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    with (
        serving(methods, keepalive=server_keepalive) as (port, server, _),
        grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel,
    ):
        call = channel.unary_unary(f"/{SERVICE}/Where")
        assert call(b"x", timeout=10) == b"x"
        [first] = server.connections
        if sent_away:
            wait_until(lambda: first not in server.connections, timeout=30, what="a GOAWAY")
        else:
            wait_until(lambda: first.pings.count >= 4, timeout=30, what="four PINGs")
        assert call(b"x", timeout=10) == b"x"
    return peers


def test_grpcio_pinging_more_often_than_allowed_is_sent_away_and_reconnects() -> None:
    # As TensorFlow Serving does (grpc core's defaults): the client's calls still succeed,
    # on a new connection.
    assert len(_peers_across_client_pings(Keepalive(), sent_away=True)) == 2


def test_grpcio_pinging_as_often_as_allowed_keeps_its_connection() -> None:
    allowed = Keepalive(permit_without_calls=True, min_ping_interval_s=0.05)
    assert len(_peers_across_client_pings(allowed, sent_away=False)) == 1


_PINGING_WITHOUT_DATA: list[tuple[str, int | str]] = [
    ("grpc.keepalive_time_ms", 100),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 1),  # a client's limit: servers ignore it
]


def _answer_pings(port: int, count: int) -> None:
    """Take ``count`` PINGs on an idle connection, ACKing each, and send nothing else."""
    with contextlib.closing(RawClient(port)) as client:
        client.send(frames.frame(frames.SETTINGS, frames.ACK, 0, b""))
        for _ in range(count):
            client.send(frames.frame(frames.PING, frames.ACK, 0, next_ping(client)))


def test_grpcios_server_pings_on_past_max_pings_without_data() -> None:
    """What the h2 server copies (below): grpc core limits pings without data on clients only."""
    server = grpc.server(futures.ThreadPoolExecutor(1), options=_PINGING_WITHOUT_DATA)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        _answer_pings(port, 3)
    finally:
        server.stop(None)


def test_the_h2_server_takes_max_pings_without_data_and_pings_on_as_grpcio() -> None:
    arguments, ignored = h2_arguments(_PINGING_WITHOUT_DATA)
    assert not ignored
    with serving({}, keepalive=arguments.keepalive) as (port, _, _):
        _answer_pings(port, 3)
