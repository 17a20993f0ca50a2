"""The health service for grpcio's threaded server, without grpc_health's deadlock.

``grpc_health.v1.health.HealthServicer`` sends each Watch update while holding
its lock. On the threaded server a send blocks until grpcio's completion-queue
thread reports it written, and that same thread runs a closing Watch's callback,
which takes the lock to unregister itself. When a client cancels a Watch while
the status changes (load balancers do this all the time; a SIGTERM changes every
status) the two threads wait for each other and the server never stops. grpc's
open PR #43403 moves the sends out of the lock the same way.

Here the lock only guards the tables; each watcher's sends are ordered by a lock
of its own, so a Watch's first answer never overtakes, nor is overtaken by, an
update. grpc.aio's servicer (``health.aio.HealthServicer``) has no such problem.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from grpc_health.v1 import health, health_pb2

SendResponse = Callable[[Any], Any]


class _Watcher:
    """One Watch stream: its send callback, and the lock that orders its sends."""

    def __init__(self, send: SendResponse) -> None:
        self.send = send
        self.lock = threading.Lock()

    def send_status(self, status: int) -> None:
        with self.lock:
            self.send(health_pb2.HealthCheckResponse(status=status))


class HealthServicer(health.HealthServicer):  # type: ignore[misc]
    """``grpc_health``'s servicer, same behaviour, sending outside the table lock.

    Call ``set`` and ``enter_graceful_shutdown`` off the event loop: they return
    once every watcher's update has been handed to the transport.
    """

    def __init__(self) -> None:
        super().__init__(experimental_non_blocking=True)
        self._gracefully_shutting_down: bool = False
        self._watchers: dict[str, set[_Watcher]] = {}
        self._updating = threading.Lock()
        """Held through a whole update, so concurrent updates reach watchers in order."""

    def Watch(
        self, request: Any, context: Any, send_response_callback: SendResponse | None = None
    ) -> Any:
        if send_response_callback is None:  # a server without non-blocking streams
            return super().Watch(request, context)
        service = request.service
        watcher = _Watcher(send_response_callback)
        with watcher.lock:
            with self._lock:
                status = self._server_status.get(
                    service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                )
                self._watchers.setdefault(service, set()).add(watcher)
            context.add_callback(lambda: self._forget(service, watcher))
            watcher.send(health_pb2.HealthCheckResponse(status=status))
        return None

    def _forget(self, service: str, watcher: _Watcher) -> None:
        """Runs on grpcio's completion-queue thread when the Watch ends."""
        with self._lock:
            self._watchers.get(service, set()).discard(watcher)
        watcher.send(None)  # ends the stream, as grpc_health does

    def set(self, service: str, status: int) -> None:
        with self._updating:
            with self._lock:
                if self._gracefully_shutting_down:
                    return
                self._server_status[service] = status
                watchers = list(self._watchers.get(service, ()))
            _send_all(watchers, status)

    def enter_graceful_shutdown(self) -> None:
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        with self._updating:
            with self._lock:
                if self._gracefully_shutting_down:
                    return
                self._gracefully_shutting_down = True
                watchers: list[_Watcher] = []
                for service in self._server_status:
                    self._server_status[service] = not_serving
                    watchers.extend(self._watchers.get(service, ()))
            _send_all(watchers, not_serving)


def _send_all(watchers: Iterable[_Watcher], status: int) -> None:
    for watcher in watchers:
        watcher.send_status(status)
