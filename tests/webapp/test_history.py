"""The on-disk history of uploads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorserve.webapp.history import HistoryStore


def test_saved_names_are_generated_and_sort_newest_first(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "images", limit=100)
    names = [store.save(b"img", "png", {"n": n}) for n in range(5)]

    page = store.page(1, per_page=3)

    assert [e.record["n"] for e in page.entries] == [4, 3, 2]
    assert (page.page, page.page_count, page.total) == (1, 2, 5)
    assert store.image_path(names[0]) == tmp_path / "images" / names[0]


def test_only_generated_names_resolve(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path, limit=10)
    (tmp_path / "secret.png").write_bytes(b"x")

    for name in ("secret.png", "../secret.png", "/etc/passwd", "a" * 32 + ".png", ""):
        assert store.image_path(name) is None


def test_oldest_uploads_beyond_the_limit_are_deleted(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path, limit=2)
    first = store.save(b"1", "png", {})
    store.save(b"2", "png", {})
    store.save(b"3", "png", {})

    assert store.image_path(first) is None
    assert len(list(tmp_path.iterdir())) == 4


def test_unexpected_extensions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        HistoryStore(tmp_path, limit=2).save(b"x", "html", {})


def test_missing_directory_is_an_empty_history(tmp_path: Path) -> None:
    page = HistoryStore(tmp_path / "absent", limit=2).page(3, per_page=10)

    assert (page.entries, page.page, page.page_count) == ([], 1, 1)
