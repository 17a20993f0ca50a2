"""Repository entries in V2's terms, and the stand-in repository without model control."""

from __future__ import annotations

import asyncio

import pytest

from tensorserve.core.errors import NotFound, ServingError, Unimplemented
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import RepositoryEntry, StaticRepository
from tensorserve.dataplane.repository import entries_of


def state(
    version: int, manager_state: ManagerState, error: ServingError | None = None
) -> ServableState:
    return ServableState(ServableId("m", version), manager_state, error)


def test_entries_map_manager_states_to_v2_states_oldest_first() -> None:
    states = {
        5: state(5, ManagerState.UNLOADING),
        1: state(1, ManagerState.END),
        2: state(2, ManagerState.END, NotFound("no saved_model.pb")),
        3: state(3, ManagerState.AVAILABLE),
        4: state(4, ManagerState.LOADING),
        6: state(6, ManagerState.START),
    }
    assert entries_of("m", states, "") == [
        RepositoryEntry("m", "1", "UNAVAILABLE", "unloaded"),
        RepositoryEntry("m", "2", "UNAVAILABLE", "no saved_model.pb"),
        RepositoryEntry("m", "3", "READY", ""),
        RepositoryEntry("m", "4", "LOADING", ""),
        RepositoryEntry("m", "5", "UNLOADING", ""),
        RepositoryEntry("m", "6", "LOADING", ""),
    ]


def test_a_model_without_versions_is_one_unavailable_entry() -> None:
    assert entries_of("m", {}, "No versions of servable m found") == [
        RepositoryEntry("m", "", "UNAVAILABLE", "No versions of servable m found")
    ]


def test_static_repository_reports_what_the_monitor_saw_and_controls_nothing() -> None:
    monitor = ServableStateMonitor()
    repository = StaticRepository(monitor)
    assert repository.readiness() == (True, {})
    monitor.publish(state(1, ManagerState.LOADING))
    assert repository.index() == [RepositoryEntry("m", "1", "LOADING", "")]
    assert not repository.readiness()[0]
    monitor.publish(state(1, ManagerState.AVAILABLE))
    assert repository.readiness() == (True, {})
    for action in (repository.load, repository.unload):
        with pytest.raises(Unimplemented):
            asyncio.run(action("m"))
