"""Version directories that appear atomically under ``<base>/<name>/``.

An export is written into a staging directory named ``.tmp-<version>-<random>`` beside
its final place (same filesystem, and non-numeric so a polling server ignores it), then
renamed to ``<version>``: a server sees either nothing or a complete SavedModel.
With overwrite, the old version is first renamed aside (``.old-<version>-<random>``), so
for a moment the version is absent, never half-written.

Callers serialize exports of one model themselves; concurrent publishes of the same
version lose with ``ExportError`` rather than clobbering.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from tensorserve.export.errors import ExportError, write_failure_reason


def numeric_versions(model_dir: Path) -> list[int]:
    """The versions present (directory names made only of digits), ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(
        int(entry.name) for entry in model_dir.iterdir() if entry.name.isdigit() and entry.is_dir()
    )


def next_version(model_dir: Path) -> int:
    """One more than the highest existing version, or 1."""
    versions = numeric_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse early when ``target`` exists and overwriting was not asked for."""
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists; pass --overwrite to replace it.")


@contextlib.contextmanager
def staging_directory(model_dir: Path, version: int) -> Iterator[Path]:
    """Create the model directory and an empty staging directory; remove on failure.

    On any exception (including KeyboardInterrupt) the staging directory is deleted, and
    so is the model directory if this call created it and it is still empty.
    """
    created = _make_model_dir(model_dir)
    staging = model_dir / f".tmp-{version}-{secrets.token_hex(4)}"
    try:
        staging.mkdir()
    except OSError as error:
        _remove_if_empty(created)
        raise ExportError(f"Cannot write to {model_dir}: {_reason(error)}.") from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(created)
        raise


def publish(staging: Path, target: Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``target`` atomically, replacing it only if ``overwrite``.

    Every file and directory in ``staging`` is flushed to disk first: a file system that
    reports a full disk only when data is flushed (NFS, or ext4 at ``fsync``) fails the
    export here, and a crash after the rename cannot leave a version with empty files.
    """
    _sync_tree(staging)
    retired: Path | None = None
    if target.exists():
        if not overwrite:
            raise ExportError(f"{target} already exists; pass --overwrite to replace it.")
        retired = target.with_name(f".old-{target.name}-{secrets.token_hex(4)}")
        os.rename(target, retired)
    try:
        os.rename(staging, target)
    except OSError as error:
        if retired is not None:
            os.rename(retired, target)
        raise ExportError(f"Cannot publish {target}: {_reason(error)}.") from None
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    with contextlib.suppress(OSError):  # the rename itself made durable; best effort
        _fsync(target.parent)


def _sync_tree(root: Path) -> None:
    """fsync every file under ``root``, then every directory, deepest first."""
    try:
        directories: list[Path] = []
        for walked, _subdirectories, files in os.walk(root):
            directories.append(Path(walked))
            for name in files:
                _fsync(Path(walked) / name)
        for directory in reversed(directories):
            _fsync(directory)
    except OSError as error:
        raise ExportError(
            f"Cannot write the export to {root}: {write_failure_reason(error)}."
        ) from None


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _make_model_dir(model_dir: Path) -> list[Path]:
    """mkdir -p, returning the directories it created (deepest last)."""
    missing = [p for p in [model_dir, *model_dir.parents] if not p.exists()]
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"Cannot create {model_dir}: {_reason(error)}.") from None
    return list(reversed(missing))


def _remove_if_empty(created: list[Path]) -> None:
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            return


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()
