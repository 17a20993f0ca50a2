"""Fixtures of the gRPC tests: a real gRPC server on port 0 over a fake manager.

The server runs on its own event loop in a thread; tests call it through the
official ``tensorflow_serving.apis`` stubs on a plain synchronous channel. Every
test that uses a server runs once per kind (``--grpc_server``: threads, asyncio, h2).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
import pytest
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from tensorserve.core.errors import FailedPrecondition, NotFound
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import DataPlane, VersionLabels
from tensorserve.grpc.server import ASYNCIO, H2, THREADS, GrpcOptions, GrpcServer
from tests.grpc.fakes import HalfPlusTwo, RecordingObserver
from tests.support.fake_manager import FakeManager

T = TypeVar("T")
MODEL = "half_plus_two"


class ServerHarness:
    """A GrpcServer for ``half_plus_two`` versions 2 and 3 (labels stable=2, canary=3),
    running on its own event loop thread."""

    def __init__(
        self, options: GrpcOptions, before_start: Callable[[GrpcServer], None] | None = None
    ) -> None:
        self.models = {2: HalfPlusTwo(2), 3: HalfPlusTwo(3)}
        self.manager = FakeManager({MODEL: self.models})
        self.states = ServableStateMonitor()
        for version, state in [
            (1, ManagerState.END),
            (2, ManagerState.AVAILABLE),
            (3, ManagerState.AVAILABLE),
        ]:
            self.states.publish(ServableState(ServableId(MODEL, version), state))
        self.states.publish(
            ServableState(ServableId("broken", 7), ManagerState.END, NotFound("no such file"))
        )
        self.observer = RecordingObserver()
        self._executor = ThreadPoolExecutor(4)
        self.dataplane = DataPlane(self.manager, self.states, self._executor, self.observer)
        self.dataplane.set_version_labels(VersionLabels({MODEL: {"stable": 2, "canary": 3}}))
        self.reloads: list[model_server_config_pb2.ModelServerConfig] = []
        self.counters = {"reload_count": 0}
        self.server = GrpcServer(
            self.dataplane, self._reload, options, metric_value=self.counters.get
        )
        if before_start is not None:
            before_start(self.server)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self.port = self.call(self.server.start())
        except BaseException:
            self._stop_loop()
            raise

    async def _reload(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        self.reloads.append(config)
        self.counters["reload_count"] += 3
        if any(model.name == "bad" for model in config.model_config_list.config):
            raise FailedPrecondition("Illegal to list model bad multiple times in config list")

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    @property
    def loop_thread_id(self) -> int | None:
        """The thread the server's event loop runs on."""
        return self._thread.ident

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def close(self) -> None:
        self.call(self.server.stop(0))
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()
        self._executor.shutdown()


@pytest.fixture(scope="module", params=[THREADS, ASYNCIO, H2])
def server_kind(request: pytest.FixtureRequest) -> str:
    """Which gRPC server the module's tests run against."""
    return str(request.param)


@pytest.fixture(scope="module")
def harness(server_kind: str) -> Iterator[ServerHarness]:
    server = ServerHarness(
        GrpcOptions(port=0, host="127.0.0.1", enable_health_service=True, server=server_kind)
    )
    yield server
    server.close()


@pytest.fixture
def make_harness(server_kind: str) -> Iterator[Callable[..., ServerHarness]]:
    """Starts servers with custom options (on this module's kind of server); stops
    them after the test."""
    started: list[ServerHarness] = []

    def make(
        options: GrpcOptions, before_start: Callable[[GrpcServer], None] | None = None
    ) -> ServerHarness:
        options = dataclasses.replace(options, server=server_kind)
        started.append(ServerHarness(options, before_start))
        return started[-1]

    yield make
    for server in started:
        server.close()


@pytest.fixture(scope="module")
def channel(harness: ServerHarness) -> Iterator[grpc.Channel]:
    with harness.channel() as opened:
        yield opened


@pytest.fixture
def prediction(channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture
def models(channel: grpc.Channel) -> model_service_pb2_grpc.ModelServiceStub:
    return model_service_pb2_grpc.ModelServiceStub(channel)
