"""A version in object storage is copied locally when its load starts, not before."""

from __future__ import annotations

import pathlib

import pytest

from tensorserve.core.errors import ServingError, Unavailable
from tensorserve.core.fakes import FakeLoader
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.sources.remote_version_loader import RemoteVersionLoader
from tensorserve.sources.storage import InMemoryStorage


class CopyingStorage(InMemoryStorage):
    """Records which paths were materialised and where."""

    def __init__(self, root: pathlib.Path) -> None:
        super().__init__(["s3://bucket/m/1"])
        self.root = root
        self.copied: list[str] = []

    def local_path(self, path: str) -> pathlib.Path:
        self.copied.append(path)
        return self.root / "m" / "1"


def test_copy_happens_at_the_estimate_and_the_inner_loader_gets_the_local_path(
    tmp_path: pathlib.Path,
) -> None:
    storage = CopyingStorage(tmp_path)
    made: list[pathlib.Path] = []

    def make(local: pathlib.Path) -> Loader:
        made.append(local)
        return FakeLoader("m1", ram_bytes=42)

    loader = RemoteVersionLoader(storage, "s3://bucket/m/1", make)
    assert storage.copied == []  # constructing is cheap
    assert loader.estimate_resources().ram_bytes == 42
    loader.load()
    assert loader.servable() is not None
    loader.unload()
    assert storage.copied == ["s3://bucket/m/1"]  # copied once, reused by load
    assert made == [tmp_path / "m" / "1"]


def test_unloading_a_version_that_never_loaded_copies_nothing(tmp_path: pathlib.Path) -> None:
    storage = CopyingStorage(tmp_path)
    loader = RemoteVersionLoader(storage, "s3://bucket/m/1", lambda local: FakeLoader("m1"))
    loader.unload()
    assert storage.copied == []


class FlakyStorage(InMemoryStorage):
    """Copies fail ``failures`` times with UNAVAILABLE, then land in ``root``."""

    def __init__(self, root: pathlib.Path, failures: int) -> None:
        super().__init__(["s3://bucket/m/1"])
        self.root = root
        self.failures = failures
        self.discarded: list[str] = []

    def local_path(self, path: str) -> pathlib.Path:
        if self.failures > 0:
            self.failures -= 1
            raise Unavailable("Copying s3://bucket/m/1/saved_model.pb failed: reset")
        return self.root

    def discard_local_copy(self, path: str) -> None:
        self.discarded.append(path)


def test_a_copy_failing_at_the_estimate_is_tried_again_by_load(tmp_path: pathlib.Path) -> None:
    storage = FlakyStorage(tmp_path, failures=1)
    loader = RemoteVersionLoader(storage, "s3://bucket/m/1", lambda local: FakeLoader("m1"))
    assert loader.estimate_resources() == ResourceEstimate()  # zero until it has loaded
    loader.load()  # copies now, and loads
    assert loader.servable() is not None


def test_a_failed_load_drops_the_copy_so_a_retry_copies_again(tmp_path: pathlib.Path) -> None:
    storage = FlakyStorage(tmp_path, failures=0)
    made: list[FakeLoader] = []

    def make(local: pathlib.Path) -> Loader:
        made.append(FakeLoader("m1", failing_loads=1 if not made else 0))
        return made[-1]

    loader = RemoteVersionLoader(storage, "s3://bucket/m/1", make)
    with pytest.raises(ServingError):
        loader.load()
    assert storage.discarded == ["s3://bucket/m/1"]
    loader.load()  # the harness's retry: a fresh copy, a fresh inner loader
    assert len(made) == 2 and made[1].servable_object.loaded
