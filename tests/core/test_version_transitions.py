"""Tests of single transitions: resources, serving map and published states."""

from __future__ import annotations

from tensorserve.core.errors import Code, InvalidArgument, NotFound
from tensorserve.core.fakes import FakeLoader, StateRecorder, servable_data
from tensorserve.core.loader import ResourceEstimate
from tensorserve.core.loader_harness import HarnessState, LoaderHarness, RetryOptions
from tensorserve.core.resource_tracker import ResourceTracker
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.core.serving_map import ServingMap
from tensorserve.core.source import ServableData
from tensorserve.core.version_transitions import VersionTransitions

V1 = ServableId("m", 1)


class Setup:
    def __init__(self, total_ram_bytes: int | None = None) -> None:
        self.tracker = ResourceTracker(total_ram_bytes)
        self.serving_map = ServingMap()
        self.monitor = ServableStateMonitor()
        self.recorder = StateRecorder()
        self.monitor.add_listener(self.recorder)
        self.transitions = VersionTransitions(
            self.tracker, self.serving_map, self.monitor, RetryOptions(0, 0.0)
        )

    def loaded(self, loader: FakeLoader) -> LoaderHarness:
        harness = self.transitions.track(servable_data("m", 1, loader))
        harness.load_requested()
        self.transitions.load(harness)
        return harness

    def unload(self, harness: LoaderHarness) -> None:
        harness.unload_requested()
        self.tracker.start_unload()
        self.transitions.unload(harness)


def test_load_then_unload_moves_map_resources_and_states_together() -> None:
    setup = Setup(total_ram_bytes=100)
    harness = setup.loaded(FakeLoader(ram_bytes=30, transient_ram_bytes=50))
    assert setup.serving_map.ids() == [V1]
    assert setup.tracker.used_ram_bytes == 30
    setup.unload(harness)
    assert setup.serving_map.ids() == []
    assert setup.tracker.used_ram_bytes == 0
    assert harness.state is HarnessState.DISABLED
    assert setup.recorder.states_of(V1) == [
        ManagerState.START,
        ManagerState.LOADING,
        ManagerState.AVAILABLE,
        ManagerState.UNLOADING,
        ManagerState.END,
    ]


def test_failed_load_releases_resources_and_ends_with_the_error() -> None:
    setup = Setup(total_ram_bytes=100)
    error = InvalidArgument("bad graph")
    harness = setup.loaded(FakeLoader.failing(error=error))
    assert harness.state is HarnessState.ERROR
    assert setup.tracker.used_ram_bytes == 0
    assert setup.monitor.versions("m")[1] == ServableState(V1, ManagerState.END, error)


def test_error_servable_data_is_tracked_in_error() -> None:
    setup = Setup()
    error = NotFound("gone")
    harness = setup.transitions.track(ServableData(V1, error=error))
    assert harness.state is HarnessState.ERROR
    assert harness.error is error
    assert setup.recorder.states_of(V1) == [ManagerState.START, ManagerState.END]


def test_estimate_failure_is_reported_as_a_reservation_error() -> None:
    class NoEstimate(FakeLoader):
        def estimate_resources(self) -> ResourceEstimate:
            raise NotFound("no such directory")

    setup = Setup()
    harness = setup.loaded(NoEstimate())
    assert harness.error is not None
    assert harness.error.code is Code.NOT_FOUND
    assert harness.error.message == (
        "Error while attempting to reserve resources to load servable "
        "{name: m version: 1}: no such directory"
    )


def test_unload_failure_ends_with_its_error_and_frees_resources() -> None:
    setup = Setup(total_ram_bytes=100)
    error = InvalidArgument("cannot free")
    harness = setup.loaded(FakeLoader(ram_bytes=10, unload_error=error))
    setup.unload(harness)
    assert harness.state is HarnessState.ERROR
    assert setup.tracker.used_ram_bytes == 0
    assert setup.monitor.versions("m")[1] == ServableState(V1, ManagerState.END, error)


def test_a_failing_state_listener_does_not_break_a_load() -> None:
    setup = Setup()

    def broken_listener(state: ServableState) -> None:
        raise RuntimeError("listener bug")

    setup.monitor.add_listener(broken_listener)
    setup.loaded(FakeLoader())
    with setup.serving_map.get_handle(ServableRequest.latest("m")) as handle:
        assert handle.id == V1
