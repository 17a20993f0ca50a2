"""Tests of the lock-free serving map and its ref-counted handles."""

from __future__ import annotations

import threading

import pytest

from tensorserve.core.errors import ServableNotFound
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.serving_map import LoadedVersion, ServingMap


def serving(*versions: int, name: str = "m") -> ServingMap:
    serving_map = ServingMap()
    for version in versions:
        serving_map.add(LoadedVersion(ServableId(name, version), f"{name}-{version}"))
    return serving_map


def test_latest_earliest_and_specific_pick_the_right_version() -> None:
    serving_map = serving(3, 1, 2)
    with serving_map.get_handle(ServableRequest.latest("m")) as handle:
        assert handle.id == ServableId("m", 3)
        assert handle.servable == "m-3"
    with serving_map.get_handle(ServableRequest.earliest("m")) as handle:
        assert handle.id.version == 1
    with serving_map.get_handle(ServableRequest.specific("m", 2)) as handle:
        assert handle.id.version == 2


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ServableRequest.latest("x"), "Servable not found for request: Latest(x)"),
        (ServableRequest.specific("m", 9), "Servable not found for request: Specific(m, 9)"),
    ],
)
def test_missing_version_raises_servable_not_found(request_: ServableRequest, message: str) -> None:
    with pytest.raises(ServableNotFound) as raised:
        serving(1).get_handle(request_)
    assert str(raised.value) == message


def test_ids_are_sorted_and_removal_drops_the_name() -> None:
    serving_map = serving(2, 1)
    serving_map.add(LoadedVersion(ServableId("a", 7), None))
    assert serving_map.ids() == [ServableId("a", 7), ServableId("m", 1), ServableId("m", 2)]
    serving_map.remove(ServableId("a", 7))
    assert serving_map.remove(ServableId("a", 7)) is None
    assert serving_map.ids() == [ServableId("m", 1), ServableId("m", 2)]


def test_quiesce_waits_for_open_handles_and_close_is_idempotent() -> None:
    serving_map = serving(1)
    handle = serving_map.get_handle(ServableRequest.latest("m"))
    removed = serving_map.remove(ServableId("m", 1))
    assert removed is not None
    assert removed.open_handles == 1
    assert not removed.quiesce(timeout=0.01)
    handle.close()
    handle.close()
    assert removed.open_handles == 0
    assert removed.quiesce(timeout=5)


def test_reader_rereads_the_map_when_unload_begins_between_lookup_and_acquire() -> None:
    serving_map = serving(1)

    class UnloadedUnderTheReader(LoadedVersion):
        def try_acquire(self) -> bool:
            # The unload starts right after the reader found this version.
            serving_map.remove(self.id)
            assert self.quiesce(timeout=0)
            return super().try_acquire()

    racing = UnloadedUnderTheReader(ServableId("m", 2), "unloading")
    serving_map.add(racing)
    with serving_map.get_handle(ServableRequest.latest("m")) as handle:
        assert handle.id.version == 1
    assert racing.try_acquire() is False


def test_reader_falls_back_to_older_version_when_latest_is_being_unloaded() -> None:
    serving_map = serving(1, 2)
    removed = serving_map.remove(ServableId("m", 2))
    assert removed is not None
    quiescer = threading.Thread(target=removed.quiesce)
    quiescer.start()
    quiescer.join(5)
    assert not quiescer.is_alive()
    with serving_map.get_handle(ServableRequest.latest("m")) as handle:
        assert handle.id.version == 1
