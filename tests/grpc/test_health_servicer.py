"""The threaded server's health servicer: grpc_health's behaviour, without its deadlock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from grpc_health.v1 import health_pb2

from tensorserve.grpc.health_servicer import HealthServicer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class FakeContext:
    """A Watch's context: keeps the callbacks grpcio runs when the stream ends."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self.callbacks.append(callback)
        return True

    def end(self) -> None:
        """What grpcio's completion-queue thread does when the client goes away."""
        for callback in self.callbacks:
            callback()


def watch(servicer: HealthServicer, service: str = "") -> tuple[list[Any], FakeContext]:
    sent: list[Any] = []
    context = FakeContext()
    servicer.Watch(health_pb2.HealthCheckRequest(service=service), context, sent.append)
    return sent, context


def statuses(sent: list[Any]) -> list[int | None]:
    return [None if response is None else response.status for response in sent]


def test_a_watch_gets_the_status_then_every_change_then_the_end() -> None:
    servicer = HealthServicer()
    sent, context = watch(servicer, "m")
    servicer.set("m", SERVING)
    servicer.set("m", NOT_SERVING)
    context.end()
    servicer.set("m", SERVING)  # after the end: not sent
    assert statuses(sent) == [UNKNOWN, SERVING, NOT_SERVING, None]


def test_graceful_shutdown_reports_not_serving_once_and_freezes_the_statuses() -> None:
    servicer = HealthServicer()
    servicer.set("m", SERVING)
    overall, _ = watch(servicer)
    model, _ = watch(servicer, "m")
    servicer.enter_graceful_shutdown()
    servicer.enter_graceful_shutdown()
    servicer.set("m", SERVING)
    assert statuses(overall) == [SERVING, NOT_SERVING]
    assert statuses(model) == [SERVING, NOT_SERVING]
    assert servicer.Check(health_pb2.HealthCheckRequest(service="m"), None).status == NOT_SERVING


def test_an_update_does_not_wait_for_a_closing_watch() -> None:
    """grpcio reports a send written on the thread that also runs a closing Watch's
    callback. grpc_health's servicer sends under the lock that callback needs, so
    the two wait for each other (a server that never stops); this one must not."""
    servicer = HealthServicer()
    _, closing = watch(servicer)
    closed_in_time: list[bool] = []

    def send(response: Any) -> None:
        if response is not None and response.status == NOT_SERVING:
            transport = threading.Thread(target=closing.end)
            transport.start()
            transport.join(timeout=10)
            closed_in_time.append(not transport.is_alive())

    servicer.Watch(health_pb2.HealthCheckRequest(service=""), FakeContext(), send)
    servicer.set("", NOT_SERVING)
    assert closed_in_time == [True]
