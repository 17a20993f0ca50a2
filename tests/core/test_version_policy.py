"""Tests of the version policies: pure functions of a snapshot, no threads."""

from __future__ import annotations

from tensorserve.core.loader_harness import HarnessState
from tensorserve.core.servable_id import ServableId
from tensorserve.core.version_policy import (
    AspiredVersionState,
    AvailabilityPreservingPolicy,
    ResourcePreservingPolicy,
    VersionAction,
    order_actions,
)

NEW = HarnessState.NEW
READY = HarnessState.READY
LOADING = HarnessState.LOADING
ERROR = HarnessState.ERROR
DISABLED = HarnessState.DISABLED
UNLOADING = HarnessState.UNLOADING


def v(version: int, state: HarnessState, aspired: bool = True) -> AspiredVersionState:
    return AspiredVersionState(ServableId("m", version), state, aspired)


def load(version: int) -> VersionAction:
    return VersionAction.load(ServableId("m", version))


def unload(version: int) -> VersionAction:
    return VersionAction.unload(ServableId("m", version))


AVAILABILITY = AvailabilityPreservingPolicy()
RESOURCE = ResourcePreservingPolicy()


def test_availability_loads_new_version_while_old_keeps_serving() -> None:
    assert AVAILABILITY.next_action([v(1, READY, False), v(2, NEW)]) == load(2)


def test_availability_unloads_old_once_new_is_ready() -> None:
    assert AVAILABILITY.next_action([v(1, READY, False), v(2, READY)]) == unload(1)


def test_availability_keeps_old_while_new_loads() -> None:
    assert AVAILABILITY.next_action([v(1, READY, False), v(2, LOADING)]) is None


def test_availability_keeps_old_forever_when_new_failed() -> None:
    assert AVAILABILITY.next_action([v(1, READY, False), v(2, ERROR)]) is None


def test_availability_unloads_lowest_of_several_unaspired_ready() -> None:
    snapshot = [v(3, READY, False), v(1, READY, False), v(4, LOADING)]
    assert AVAILABILITY.next_action(snapshot) == unload(1)


def test_availability_unloads_when_nothing_is_aspired() -> None:
    assert AVAILABILITY.next_action([v(2, READY, False)]) == unload(2)


def test_availability_loads_highest_new_aspired_first() -> None:
    assert AVAILABILITY.next_action([v(1, NEW), v(3, NEW), v(2, NEW)]) == load(3)


def test_availability_ignores_unaspired_new_versions() -> None:
    assert AVAILABILITY.next_action([v(5, NEW, False), v(2, READY)]) is None


def test_availability_loads_while_one_old_version_serves_even_if_aspired_failed() -> None:
    snapshot = [v(1, READY, False), v(2, ERROR), v(3, NEW)]
    assert AVAILABILITY.next_action(snapshot) == load(3)


def test_resource_unloads_old_before_loading_new() -> None:
    assert RESOURCE.next_action([v(1, READY, False), v(2, NEW)]) == unload(1)


def test_resource_waits_for_unload_to_finish() -> None:
    assert RESOURCE.next_action([v(1, UNLOADING, False), v(2, NEW)]) is None
    assert RESOURCE.next_action([v(1, LOADING, False), v(2, NEW)]) is None


def test_resource_loads_after_old_is_final() -> None:
    assert RESOURCE.next_action([v(1, DISABLED, False), v(2, NEW)]) == load(2)
    assert RESOURCE.next_action([v(1, ERROR, False), v(2, NEW), v(3, NEW)]) == load(3)


def test_resource_unloads_first_unaspired_ready_in_snapshot_order() -> None:
    assert RESOURCE.next_action([v(4, READY, False), v(2, READY, False)]) == unload(4)


def test_no_action_when_everything_is_settled() -> None:
    for policy in (AVAILABILITY, RESOURCE):
        assert policy.next_action([]) is None
        assert policy.next_action([v(1, READY), v(2, READY)]) is None


def test_order_actions_puts_unloads_before_loads_stably() -> None:
    a, b = ServableId("a", 1), ServableId("b", 1)
    actions = [VersionAction.load(a), VersionAction.unload(b), VersionAction.load(b)]
    assert order_actions(actions) == [
        VersionAction.unload(b),
        VersionAction.load(a),
        VersionAction.load(b),
    ]
