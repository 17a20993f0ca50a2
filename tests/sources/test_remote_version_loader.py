"""A version in object storage is copied locally when its load starts, not before."""

from __future__ import annotations

import pathlib

from tensorserve.core.fakes import FakeLoader
from tensorserve.core.loader import Loader
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
