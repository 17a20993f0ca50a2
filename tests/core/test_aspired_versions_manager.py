"""Tests of the AspiredVersionsManager, driven tick by tick with fake loaders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tensorserve.core.aspired_versions_manager import AspiredVersionsManager, ManagerOptions
from tensorserve.core.errors import InsufficientResources, NotFound, ServableNotFound
from tensorserve.core.fakes import FakeLoader, FakeServable, StateRecorder, servable_data
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.core.source import ServableData
from tensorserve.core.version_policy import ResourcePreservingPolicy

START, LOADING, AVAILABLE = ManagerState.START, ManagerState.LOADING, ManagerState.AVAILABLE
UNLOADING, END = ManagerState.UNLOADING, ManagerState.END
V1, V2, V3 = ServableId("m", 1), ServableId("m", 2), ServableId("m", 3)
LATEST = ServableRequest.latest("m")


class Harness:
    """A manager plus its monitor and a recording of every published state."""

    def __init__(self, monitor: ServableStateMonitor | None = None, **options: Any) -> None:
        options.setdefault("load_retry_interval_s", 0.0)
        self.monitor = monitor or ServableStateMonitor()
        self.recorder = StateRecorder()
        self.monitor.add_listener(self.recorder)
        self.manager = AspiredVersionsManager(self.monitor, ManagerOptions(**options))

    def aspire(self, *loaders: tuple[int, FakeLoader], name: str = "m") -> None:
        self.manager.aspired_versions_callback(
            name, [servable_data(name, version, loader) for version, loader in loaders]
        )

    def settle(self) -> None:
        """Tick until no action is left (loads and unloads run inline)."""
        for _ in range(100):
            if not self.manager.manage_state_once():
                return
        raise AssertionError("manager never settled")

    def tick_until(self, condition: Callable[[], bool], timeout: float = 5) -> None:
        """Tick until ``condition()`` holds (pool threads finish in between)."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            if not self.manager.manage_state_once():
                time.sleep(0.001)

    def state(self, servable_id: ServableId) -> ServableState | None:
        return self.monitor.versions(servable_id.name).get(servable_id.version)

    def wait_for(self, servable_id: ServableId, state: ManagerState, timeout: float = 5) -> None:
        def reached(states: dict[str, dict[int, ServableState]]) -> bool:
            current = states.get(servable_id.name, {}).get(servable_id.version)
            return current is not None and current.state is state

        assert self.monitor.wait_for(reached, timeout), f"{servable_id} never reached {state}"

    def index(self, servable_id: ServableId, state: ManagerState) -> int:
        recorded = [(s.id, s.state) for s in self.recorder.states]
        return recorded.index((servable_id, state))


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness()
    yield made
    made.manager.stop(timeout=5)


def test_version_publishes_every_state_in_order(harness: Harness) -> None:
    harness.aspire((1, FakeLoader()))
    harness.settle()
    assert harness.manager.available_ids() == [V1]
    harness.aspire()
    harness.settle()
    assert harness.recorder.states_of(V1) == [START, LOADING, AVAILABLE, UNLOADING, END]
    assert harness.state(V1) == ServableState(V1, END, None)


def test_new_version_serves_before_old_unloads(harness: Harness) -> None:
    old, new = FakeLoader("v1"), FakeLoader("v2")
    harness.aspire((1, old))
    harness.settle()
    harness.aspire((2, new))
    assert harness.manager.manage_state_once()  # loads v2 while v1 serves
    assert harness.manager.available_ids() == [V1, V2]
    with harness.manager.get_servable_handle(LATEST) as handle:
        assert handle.id == V2
    assert old.unload_calls == 0
    harness.settle()
    assert harness.manager.available_ids() == [V2]
    assert harness.index(V2, AVAILABLE) < harness.index(V1, UNLOADING)


def test_resource_preserving_unloads_old_before_loading_new() -> None:
    made = Harness(version_policy=ResourcePreservingPolicy())
    made.aspire((1, FakeLoader()))
    made.settle()
    made.aspire((2, FakeLoader()))
    assert made.manager.manage_state_once()  # unloads v1 first
    assert made.manager.available_ids() == []
    made.settle()
    assert made.manager.available_ids() == [V2]
    assert made.index(V1, END) < made.index(V2, LOADING)
    assert made.manager.stop(timeout=5)


def test_failed_new_version_keeps_old_serving_and_is_not_retried() -> None:
    made = Harness(max_num_load_retries=0)
    made.aspire((1, FakeLoader()))
    made.settle()
    broken = FakeLoader.failing("v2", NotFound("no such file"))
    made.aspire((1, FakeLoader()), (2, broken))
    made.settle()
    state = made.state(V2)
    assert state is not None and state.state is END
    assert isinstance(state.error, NotFound) and state.error.message == "no such file"
    assert made.manager.available_ids() == [V1]
    assert not made.manager.manage_state_once()
    assert broken.load_calls == 1
    assert made.manager.stop(timeout=5)


def test_load_is_retried_max_num_load_retries_times() -> None:
    made = Harness(max_num_load_retries=2)
    flaky, broken = FakeLoader(failing_loads=2), FakeLoader.failing()
    made.aspire((1, flaky))
    made.aspire((1, flaky), (2, broken))
    made.settle()
    assert broken.load_calls == 3
    assert flaky.load_calls == 3
    assert made.manager.available_ids() == [V1]
    assert made.recorder.states_of(V2) == [START, LOADING, END]
    assert made.manager.stop(timeout=5)


def test_unaspiring_a_version_cancels_its_load_retries() -> None:
    made = Harness(num_load_threads=1, load_retry_interval_s=3600.0)
    broken = FakeLoader.failing()
    made.aspire((1, broken))
    assert made.manager.manage_state_once()
    assert broken.load_started.wait(5)
    made.aspire()
    made.manager.manage_state_once()
    made.wait_for(V1, END)
    assert broken.load_calls == 1
    made.settle()
    assert made.manager.stop(timeout=5)


def test_load_refused_for_insufficient_resources_ends_with_exact_error() -> None:
    made = Harness(total_memory_bytes=100)
    made.aspire((1, FakeLoader(ram_bytes=60)))
    made.settle()
    made.aspire((1, FakeLoader(ram_bytes=60)), (2, FakeLoader(ram_bytes=60)))
    made.settle()
    state = made.state(V2)
    assert state is not None and state.state is END
    assert isinstance(state.error, InsufficientResources)
    assert str(state.error) == "Insufficient resources to load servable {name: m version: 2}"
    assert made.manager.available_ids() == [V1]
    assert made.manager.stop(timeout=5)


def test_resource_preserving_swap_fits_a_budget_of_one_version() -> None:
    made = Harness(total_memory_bytes=100, version_policy=ResourcePreservingPolicy())
    made.aspire((1, FakeLoader(ram_bytes=60)))
    made.settle()
    made.aspire((2, FakeLoader(ram_bytes=60)))
    made.settle()
    assert made.manager.available_ids() == [V2]
    assert made.manager.stop(timeout=5)


def test_open_handle_blocks_unload_until_closed() -> None:
    made = Harness(num_unload_threads=1)
    loader = FakeLoader()
    made.aspire((1, loader))
    made.settle()
    handle = made.manager.get_servable_handle(LATEST)
    made.aspire()
    assert made.manager.manage_state_once()
    made.wait_for(V1, UNLOADING)
    assert made.manager.available_ids() == []
    with pytest.raises(ServableNotFound):
        made.manager.get_servable_handle(LATEST)
    assert not loader.unload_started.wait(0.05)
    assert handle.servable.loaded
    handle.close()
    made.wait_for(V1, END)
    assert loader.unload_calls == 1
    assert made.manager.stop(timeout=5)


def test_empty_aspired_list_unloads_every_version(harness: Harness) -> None:
    harness.aspire((1, FakeLoader()), (2, FakeLoader()))
    harness.settle()
    assert harness.manager.available_ids() == [V1, V2]
    harness.aspire()
    harness.settle()
    assert harness.manager.available_ids() == []
    assert harness.state(V1) == ServableState(V1, END)
    assert harness.state(V2) == ServableState(V2, END)


def test_error_servable_data_ends_with_its_error(harness: Harness) -> None:
    error = NotFound("Could not find base path /x for servable m")
    harness.manager.aspired_versions_callback("m", [ServableData(V1, error=error)])
    harness.settle()
    assert harness.recorder.states_of(V1) == [START, END]
    assert harness.state(V1) == ServableState(V1, END, error)


def test_unaspired_version_never_loaded_ends_without_error(harness: Harness) -> None:
    harness.aspire((1, FakeLoader()), (2, FakeLoader()))
    assert harness.manager.manage_state_once()  # loads v2, the highest, first
    harness.aspire((2, FakeLoader()))
    harness.settle()
    assert harness.recorder.states_of(V1) == [START, END]
    assert harness.manager.available_ids() == [V2]


def test_reaspiring_a_version_being_unloaded_waits_for_its_unload() -> None:
    made = Harness(num_unload_threads=1)
    made.aspire((1, FakeLoader()))
    made.settle()
    handle = made.manager.get_servable_handle(LATEST)
    made.aspire()
    made.manager.manage_state_once()
    made.wait_for(V1, UNLOADING)
    reloaded = FakeLoader()
    made.aspire((1, reloaded))
    assert not made.manager.manage_state_once()  # deferred while v1 unloads
    handle.close()
    made.wait_for(V1, END)
    made.settle()
    assert made.manager.available_ids() == [V1]
    assert reloaded.load_calls == 1
    assert made.manager.stop(timeout=5)


class EndHeld(ServableStateMonitor):
    """Holds the thread publishing the first END of ``held`` until ``release`` is set:
    the version is unloaded (its harness final) but not yet reported so."""

    def __init__(self, held: ServableId) -> None:
        super().__init__()
        self.held = held
        self.reached = threading.Event()
        self.release = threading.Event()

    def publish(self, state: ServableState) -> None:
        if state.id == self.held and state.state is END and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(10)
        super().publish(state)


def test_a_version_reaspired_as_its_unload_ends_starts_after_its_end() -> None:
    # A tick between the unload thread's last harness transition and its END forgot the
    # version and tracked the re-aspired one at once: the old END then landed after the
    # new START (even after AVAILABLE), so clients saw a served version as END.
    monitor = EndHeld(V1)
    made = Harness(monitor, num_unload_threads=1)
    made.aspire((1, FakeLoader()))
    made.settle()
    made.aspire()
    assert made.manager.manage_state_once()  # v1's unload runs on the pool thread
    try:
        assert monitor.reached.wait(5)  # v1 unloaded, its END not yet published
        made.aspire((1, FakeLoader()))
        made.manager.manage_state_once()
    finally:
        monitor.release.set()
    made.tick_until(lambda: made.manager.available_ids() == [V1])
    first_life = [START, LOADING, AVAILABLE, UNLOADING, END]
    assert made.recorder.states_of(V1) == [*first_life, START, LOADING, AVAILABLE]
    assert made.state(V1) == ServableState(V1, AVAILABLE)
    assert made.manager.stop(timeout=5)


def test_loader_exceptions_do_not_kill_the_manage_thread() -> None:
    class Exploding(FakeLoader):
        def load(self) -> None:
            raise ZeroDivisionError("boom")

    made = Harness(max_num_load_retries=0, manage_state_interval_s=3600.0)
    made.manager.start()
    made.aspire((1, Exploding()))
    made.wait_for(V1, END)
    made.aspire((2, FakeLoader()))
    made.wait_for(V2, AVAILABLE)  # woken at once despite the hour-long interval
    assert made.manager.stop(timeout=5)


def test_stop_unloads_everything_after_handles_close_and_ignores_later_lists() -> None:
    made = Harness(num_load_threads=2, num_unload_threads=2)
    made.manager.start()
    made.aspire((1, FakeLoader()))
    made.wait_for(V1, AVAILABLE)
    handle = made.manager.get_servable_handle(LATEST)
    stopped: list[bool] = []
    stopper = threading.Thread(target=lambda: stopped.append(made.manager.stop(timeout=10)))
    stopper.start()
    made.wait_for(V1, UNLOADING)
    assert stopper.is_alive()
    handle.close()
    stopper.join(10)
    assert stopped == [True]
    assert made.state(V1) == ServableState(V1, END)
    made.aspire((2, FakeLoader()))
    assert made.state(V2) is None


def test_stop_times_out_while_a_handle_stays_open() -> None:
    made = Harness(num_unload_threads=1)
    made.aspire((1, FakeLoader()))
    made.settle()
    handle = made.manager.get_servable_handle(LATEST)
    assert made.manager.stop(timeout=0.1) is False
    handle.close()
    assert made.manager.stop(timeout=5) is True


def test_concurrent_handles_during_swaps_never_see_an_unloaded_servable() -> None:
    made = Harness(num_load_threads=2, num_unload_threads=2, manage_state_interval_s=0.01)
    made.manager.start()
    made.aspire((1, FakeLoader()))
    made.wait_for(V1, AVAILABLE)
    swapping = threading.Event()
    swapping.set()
    problems: list[str] = []
    handles_taken = [0]

    def read() -> None:
        requests = [LATEST, ServableRequest.earliest("m")]
        for i in range(100_000):
            if not swapping.is_set():
                return
            try:
                handle = made.manager.get_servable_handle(requests[i % 2])
            except ServableNotFound:
                problems.append("no version available during a swap")
                continue
            with handle:
                servable = handle.servable
                assert isinstance(servable, FakeServable)
                for _ in range(3):  # hold the handle across a few thread switches
                    if not servable.loaded:
                        problems.append(f"{handle.id} unloaded while a handle was open")
                    sum(range(200))
            handles_taken[0] += 1

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for version in range(2, 22):
        made.aspire((version, FakeLoader(f"v{version}")))
        made.wait_for(ServableId("m", version - 1), END)
    swapping.clear()
    for reader in readers:
        reader.join(30)
    assert problems == []
    assert handles_taken[0] > 0
    assert made.manager.available_ids() == [ServableId("m", 21)]
    assert made.manager.stop(timeout=5)


def test_aspires_tells_when_the_newest_list_took_effect(harness: Harness) -> None:
    manager = harness.manager
    assert not manager.aspires("m", [1])
    harness.aspire((1, FakeLoader()))
    assert not manager.aspires("m", [1])  # received, not yet applied
    harness.settle()
    assert manager.aspires("m", [1]) and manager.aspires("m", [])
    harness.aspire()  # un-aspire...
    harness.aspire((1, FakeLoader()))  # ...and re-aspire before any tick
    assert not manager.aspires("m", [1])
    harness.settle()
    assert manager.aspires("m", [1])
    assert harness.recorder.states_of(V1) == [START, LOADING, AVAILABLE]  # kept, never reloaded
    harness.aspire()
    harness.settle()
    assert not manager.aspires("m", [1])
