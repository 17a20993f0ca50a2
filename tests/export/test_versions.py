"""Version numbering, staging cleanup and atomic publishing (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorserve.export import versions
from tensorserve.export.errors import ExportError


def test_next_version_is_one_past_the_highest_numeric_directory(tmp_path: Path) -> None:
    for name in ("1", "7", "12", ".tmp-13-abcd", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "99").write_text("a file, not a version")
    assert versions.numeric_versions(tmp_path) == [1, 7, 12]
    assert versions.next_version(tmp_path) == 13


def test_next_version_of_a_new_model_is_one(tmp_path: Path) -> None:
    assert versions.next_version(tmp_path / "absent") == 1


def test_staging_directory_is_hidden_and_removed_on_failure(tmp_path: Path) -> None:
    model_dir = tmp_path / "base" / "model"
    with pytest.raises(RuntimeError), versions.staging_directory(model_dir, 3) as staging:
        assert staging.parent == model_dir
        assert staging.name.startswith(".tmp-3-")
        (staging / "saved_model.pb").write_bytes(b"partial")
        raise RuntimeError("export failed")
    assert not (tmp_path / "base").exists()


def test_publish_renames_into_place_and_refuses_to_clobber(tmp_path: Path) -> None:
    staging = tmp_path / ".tmp-1-x"
    staging.mkdir()
    (staging / "marker").write_text("new")
    target = tmp_path / "1"
    target.mkdir()
    with pytest.raises(ExportError, match=r"already exists; pass --overwrite"):
        versions.publish(staging, target, overwrite=False)
    versions.publish(staging, target, overwrite=True)
    assert (target / "marker").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["1"]


def test_unwritable_base_dir_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    not_a_directory = r"^Cannot create .*a-file/model: not a directory\.$"
    with (
        pytest.raises(ExportError, match=not_a_directory),
        versions.staging_directory(blocker / "model", 1),
    ):
        pass
