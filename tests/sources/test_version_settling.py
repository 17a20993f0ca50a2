"""SettleGate: a version directory is let through once it has stopped changing."""

from __future__ import annotations

import os
import pathlib

from tensorserve.sources.storage import InMemoryStorage, LocalStorage
from tensorserve.sources.version_settling import SettleGate


class Clocks:
    """A wall clock and a monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.wall = 1_000.0
        self.monotonic = 50.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic += seconds

    def gate(self, settle_seconds: float = 2.0) -> SettleGate:
        return SettleGate(
            settle_seconds, wall_clock=lambda: self.wall, clock=lambda: self.monotonic
        )


def test_a_directory_unchanged_for_the_settle_period_passes_at_first_sight() -> None:
    clocks = Clocks()
    storage = InMemoryStorage(["/m/1"])
    storage.touch("/m/1", clocks.wall - 2.0)
    assert clocks.gate().is_settled(storage, "/m/1")


def test_a_directory_still_changing_is_held_until_it_stops() -> None:
    clocks, storage = Clocks(), InMemoryStorage(["/m/1"])
    gate = clocks.gate()
    for _ in range(5):  # a file is written every second
        storage.touch("/m/1", clocks.wall)
        assert not gate.is_settled(storage, "/m/1")
        clocks.advance(1.0)
    assert not gate.is_settled(storage, "/m/1")  # the last write was 1 s ago
    clocks.advance(1.0)
    assert gate.is_settled(storage, "/m/1")


def test_a_clock_behind_the_stores_still_lets_an_unchanged_directory_through() -> None:
    clocks, storage = Clocks(), InMemoryStorage(["/m/1"])
    storage.touch("/m/1", clocks.wall + 3600.0)  # the store's clock is an hour ahead
    gate = clocks.gate()
    assert not gate.is_settled(storage, "/m/1")
    clocks.advance(1.9)
    assert not gate.is_settled(storage, "/m/1")
    clocks.advance(0.1)
    assert gate.is_settled(storage, "/m/1")  # unchanged over two seconds of polling


def test_a_settled_directory_is_not_examined_again_until_it_leaves_the_listing() -> None:
    clocks, storage = Clocks(), InMemoryStorage(["/m/1"])
    gate = clocks.gate()
    assert gate.is_settled(storage, "/m/1")
    storage.touch("/m/1", clocks.wall)  # a change inside a loaded version does not matter
    assert gate.is_settled(storage, "/m/1")
    gate.keep_only([])  # deleted ...
    assert not gate.is_settled(storage, "/m/1")  # ... and written again: checked again


def test_a_directory_that_vanishes_mid_poll_is_held_not_raised() -> None:
    clocks = Clocks()
    assert not clocks.gate().is_settled(LocalStorage(), "/nonexistent/tensorserve/1")


def test_a_zero_period_lets_everything_through() -> None:
    clocks, storage = Clocks(), InMemoryStorage(["/m/1"])
    storage.touch("/m/1", clocks.wall)
    assert clocks.gate(0.0).is_settled(storage, "/m/1")


def test_local_storage_reports_the_newest_modification_under_a_directory(
    tmp_path: pathlib.Path,
) -> None:
    version = tmp_path / "1"
    (version / "variables").mkdir(parents=True)
    for path, mtime in ((version / "saved_model.pb", 100.0), (version / "variables" / "v", 300.0)):
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
    for directory in (version / "variables", version):
        os.utime(directory, (200.0, 200.0))
    assert LocalStorage().newest_change(str(version)) == 300.0
