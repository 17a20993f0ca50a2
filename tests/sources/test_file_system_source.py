"""FileSystemStoragePathSource: polling, policies, missing paths, config updates."""

from __future__ import annotations

import logging
import pathlib
import threading
import time
from collections.abc import Sequence

import pytest

from tensorserve.core.errors import Code, InvalidArgument
from tensorserve.core.servable_id import ServableId
from tensorserve.core.source import ServableData
from tensorserve.sources.file_system_source import (
    FileSystemStoragePathSource,
    ServableSourceConfig,
)
from tensorserve.sources.servable_version_policy import All, Latest, Specific
from tensorserve.sources.storage import InMemoryStorage, Storage
from tensorserve.sources.version_settling import SettleGate

LOGGER = "tensorserve.sources.file_system_source"


class RecordingTarget:
    """Collects aspired-versions calls; lets a test wait for one with a deadline."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[ServableData[str]]]] = []
        self._cond = threading.Condition()

    def __call__(self, name: str, versions: Sequence[ServableData[str]]) -> None:
        with self._cond:
            self.calls.append((name, list(versions)))
            self._cond.notify_all()

    def latest(self, name: str) -> list[tuple[int, str | None]] | None:
        with self._cond:
            for call_name, versions in reversed(self.calls):
                if call_name == name:
                    return [(v.id.version, v.data) for v in versions]
        return None

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.calls) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True


def make_source(
    storage: Storage, servables: list[ServableSourceConfig], poll_wait_seconds: float = 0
) -> tuple[FileSystemStoragePathSource, RecordingTarget]:
    source = FileSystemStoragePathSource(
        servables, poll_wait_seconds, storage_factory=lambda _path: storage
    )
    target = RecordingTarget()
    source.set_aspired_versions_callback(target)
    return source, target


def test_latest_policy_emits_highest_version_with_its_path(tmp_path: pathlib.Path) -> None:
    for version in ("1", "2", "tmp"):
        (tmp_path / version).mkdir()
    source = FileSystemStoragePathSource([ServableSourceConfig("m", str(tmp_path))], 0)
    target = RecordingTarget()
    source.set_aspired_versions_callback(target)
    source.start()
    assert target.calls == [("m", [ServableData(ServableId("m", 2), str(tmp_path / "2"))])]


def test_all_and_specific_policies() -> None:
    storage = InMemoryStorage(["/a/1", "/a/2", "/a/3", "/s/1", "/s/2", "/s/3"])
    source, target = make_source(
        storage,
        [ServableSourceConfig("a", "/a", All()), ServableSourceConfig("s", "/s", Specific((1, 3)))],
    )
    source.poll_once()
    assert sorted(target.latest("a") or []) == [(1, "/a/1"), (2, "/a/2"), (3, "/a/3")]
    assert target.latest("s") == [(1, "/s/1"), (3, "/s/3")]


def test_latest_n_policy() -> None:
    storage = InMemoryStorage(["/m/1", "/m/2", "/m/3"])
    source, target = make_source(storage, [ServableSourceConfig("m", "/m", Latest(2))])
    source.poll_once()
    assert target.latest("m") == [(3, "/m/3"), (2, "/m/2")]


def test_numeric_name_edge_cases_in_listing() -> None:
    storage = InMemoryStorage(["/m/00000123", "/m/v1", "/m/1.0", "/m/.DS_Store",
                               f"/m/{2**63}"])  # fmt: skip
    source, target = make_source(storage, [ServableSourceConfig("m", "/m")])
    source.poll_once()
    assert target.latest("m") == [(123, "/m/00000123")]


def test_new_version_appearing_is_emitted_on_next_poll() -> None:
    storage = InMemoryStorage(["/m/1"])
    source, target = make_source(storage, [ServableSourceConfig("m", "/m")])
    source.poll_once()
    storage.add("/m/2")
    source.poll_once()
    assert [target.latest("m")] == [[(2, "/m/2")]]
    assert source.last_poll("m") is not None
    assert source.last_poll("m").versions == (2,)  # type: ignore[union-attr]


def test_missing_base_path_skips_only_that_servable(caplog: pytest.LogCaptureFixture) -> None:
    storage = InMemoryStorage(["/good/1"])
    source, target = make_source(
        storage, [ServableSourceConfig("bad", "/missing"), ServableSourceConfig("good", "/good")]
    )
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        results = source.poll_once()
    message = (
        "Could not find base path /missing for servable bad with error NOT_FOUND: /missing "
        "not found"
    )
    assert [name for name, _ in target.calls] == ["good"]
    error = source.last_error("bad")
    assert error is not None
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == message
    assert results["bad"].versions is None
    assert source.last_error("good") is None
    assert f"FileSystemStoragePathSource encountered a filesystem access error: {message}" in (
        caplog.messages
    )


def test_base_path_appearing_later_is_picked_up() -> None:
    storage = InMemoryStorage()
    source, target = make_source(storage, [ServableSourceConfig("m", "/m")])
    source.poll_once()
    assert target.calls == []
    storage.add("/m/1")
    source.poll_once()
    assert target.latest("m") == [(1, "/m/1")]
    assert source.last_error("m") is None


def test_no_versions_warns_and_emits_empty_list(caplog: pytest.LogCaptureFixture) -> None:
    storage = InMemoryStorage(["/m/tmp"])
    source, target = make_source(storage, [ServableSourceConfig("m", "/m")])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        source.poll_once()
    assert target.calls == [("m", [])]
    assert (
        "No versions of servable m found under base path /m. Did you forget to name your "
        "leaf directory as a number (eg. '/1/')?"
    ) in caplog.messages


def test_versions_always_present_refuses_to_unload_all(caplog: pytest.LogCaptureFixture) -> None:
    storage = InMemoryStorage(["/m"])
    source = FileSystemStoragePathSource(
        [ServableSourceConfig("m", "/m")],
        0,
        storage_factory=lambda _path: storage,
        servable_versions_always_present=True,
    )
    target = RecordingTarget()
    source.set_aspired_versions_callback(target)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        source.poll_once()
    assert target.calls == []
    assert "Refusing to unload all versions for Servable: m" in caplog.messages


def test_listing_error_is_recorded_and_other_servables_continue() -> None:
    class BrokenListing(InMemoryStorage):
        def list_children(self, path: str) -> list[str]:
            if path == "/broken":
                raise PermissionError("Permission denied")
            return super().list_children(path)

    storage = BrokenListing(["/broken/1", "/ok/1"])
    source, target = make_source(
        storage, [ServableSourceConfig("broken", "/broken"), ServableSourceConfig("ok", "/ok")]
    )
    source.poll_once()
    assert [name for name, _ in target.calls] == ["ok"]
    error = source.last_error("broken")
    assert error is not None and "Permission denied" in error.message


def test_specific_policy_skips_listing_when_all_versions_exist() -> None:
    class NoListing(InMemoryStorage):
        def list_children(self, path: str) -> list[str]:
            raise AssertionError("listed")

    storage = NoListing(["/m/1", "/m/2"])
    source, target = make_source(storage, [ServableSourceConfig("m", "/m", Specific((2,)))])
    source.poll_once()
    assert target.latest("m") == [(2, "/m/2")]


def test_update_config_unaspires_removed_and_polls_added_when_polling_once() -> None:
    storage = InMemoryStorage(["/a/1", "/b/7"])
    source, target = make_source(storage, [ServableSourceConfig("a", "/a")])
    source.start()
    source.update_config([ServableSourceConfig("b", "/b")])
    assert target.calls == [
        ("a", [ServableData(ServableId("a", 1), "/a/1")]),
        ("a", []),
        ("b", [ServableData(ServableId("b", 7), "/b/7")]),
    ]
    assert source.last_poll("a") is None
    assert [s.name for s in source.servables()] == ["b"]


def test_negative_poll_wait_never_polls() -> None:
    storage = InMemoryStorage(["/m/1"])
    source, target = make_source(storage, [ServableSourceConfig("m", "/m")], -1)
    source.start()
    source.stop()
    assert target.calls == []


def test_poll_thread_emits_repeatedly_and_stops_promptly() -> None:
    storage = InMemoryStorage(["/m/1"])
    source, target = make_source(storage, [ServableSourceConfig("m", "/m")], 3600)
    source.start()
    assert target.wait_for(1)
    storage.add("/m/2")
    source.update_config([ServableSourceConfig("m", "/m")])  # wakes the poller early
    assert target.wait_for(2)
    assert target.latest("m") == [(2, "/m/2")]
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 2.0
    assert not any(t.name == "FileSystemStoragePathSource" for t in threading.enumerate())


def test_duplicate_servable_names_are_rejected() -> None:
    duplicated = [ServableSourceConfig("m", "/a"), ServableSourceConfig("m", "/b")]
    with pytest.raises(InvalidArgument, match="Duplicate servable names"):
        FileSystemStoragePathSource(duplicated)


def settling_source(
    storage: InMemoryStorage, servables: list[ServableSourceConfig]
) -> tuple[FileSystemStoragePathSource, RecordingTarget, list[float]]:
    """A periodic source (never started: the test polls) whose clocks the test moves."""
    now = [1_000.0]
    source = FileSystemStoragePathSource(
        servables,
        1.0,
        storage_factory=lambda _path: storage,
        settle_seconds=2.0,
        settle_gate=lambda seconds: SettleGate(
            seconds, wall_clock=lambda: now[0], clock=lambda: now[0]
        ),
    )
    target = RecordingTarget()
    source.set_aspired_versions_callback(target)
    return source, target, now


def test_a_version_still_being_written_is_held_back_and_the_previous_one_kept() -> None:
    storage = InMemoryStorage(["/m/1"])
    source, target, now = settling_source(storage, [ServableSourceConfig("m", "/m")])
    source.poll_once()
    storage.add("/m/2")
    storage.touch("/m/2", now[0])  # files are still appearing in version 2
    source.poll_once()
    assert target.latest("m") == [(1, "/m/1")]  # latest would be 2: 1 is kept instead
    poll = source.last_poll("m")
    assert poll is not None and (poll.versions, poll.settling) == ((1,), (2,))
    now[0] += 2.0
    source.poll_once()
    assert target.latest("m") == [(2, "/m/2")]
    assert source.last_poll("m").settling == ()  # type: ignore[union-attr]


def test_a_new_model_whose_only_version_is_being_written_aspires_to_nothing_yet() -> None:
    storage = InMemoryStorage(["/m/1"])
    source, target, now = settling_source(storage, [ServableSourceConfig("m", "/m")])
    storage.touch("/m/1", now[0])
    source.poll_once()
    assert target.latest("m") == []
    assert source.last_poll("m").settling == (1,)  # type: ignore[union-attr]


def test_polling_once_does_not_hold_versions_back() -> None:
    storage = InMemoryStorage(["/m/1"])
    storage.touch("/m/1", time.time())
    source, target = make_source(storage, [ServableSourceConfig("m", "/m")])
    source.poll_once()
    assert target.latest("m") == [(1, "/m/1")]
