"""Keeps recent uploads on disk with what was predicted, and pages through them.

Each upload is ``<UTC timestamp>-<uuid4 hex>.<ext>`` beside a JSON sidecar of the same stem,
so names sort by time and a client's filename never becomes a path. The sidecar is written
last, atomically, and only sidecars are listed, so a half-written upload is never shown.
Thread- and process-safe: state lives only in the directory, every write is a rename.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tensorserve.webapp.preprocessing import ACCEPTED_FORMATS

_STEM = r"\d{8}T\d{12}Z-[0-9a-f]{32}"
SAVED_STEM = re.compile(_STEM)
SAVED_NAME = re.compile(_STEM + r"\.(" + "|".join(sorted(set(ACCEPTED_FORMATS.values()))) + ")")
"""The only names :meth:`HistoryStore.image_path` resolves (matched in full)."""
SIDECAR_SUFFIX = ".json"


@dataclass(frozen=True)
class HistoryEntry:
    """One saved upload and its sidecar record."""

    image: str
    record: dict[str, Any]


@dataclass(frozen=True)
class HistoryPage:
    """One page of entries, newest first, with its place among all pages."""

    entries: list[HistoryEntry]
    page: int
    page_count: int
    total: int


class HistoryStore:
    """The ``predict_images/`` folder: save uploads, list them, resolve their names."""

    def __init__(self, directory: Path, limit: int) -> None:
        self.directory = directory
        self._limit = limit

    def save(self, data: bytes, extension: str, record: dict[str, Any]) -> str:
        """Store ``data`` under a generated name with ``record`` as its sidecar; return the name."""
        if extension not in ACCEPTED_FORMATS.values():
            raise ValueError(f"unexpected image extension {extension!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex}.{extension}"
        image_path = self.directory / name
        _write_atomically(image_path, data)
        sidecar = {"image": name, "created_at": now.isoformat(), **record}
        _write_atomically(
            image_path.with_suffix(SIDECAR_SUFFIX),
            json.dumps(sidecar, indent=2, sort_keys=True).encode("utf-8"),
        )
        self._prune()
        return name

    def page(self, page: int, per_page: int) -> HistoryPage:
        """Entries of 1-based ``page``, newest first; a page past the end is clamped."""
        sidecars = self._sidecars_newest_first()
        page_count = max(1, -(-len(sidecars) // per_page))
        page = min(max(1, page), page_count)
        chosen = sidecars[(page - 1) * per_page : page * per_page]
        entries = [entry for entry in map(self._read, chosen) if entry is not None]
        return HistoryPage(entries=entries, page=page, page_count=page_count, total=len(sidecars))

    def image_path(self, name: str) -> Path | None:
        """The path of a saved image, or ``None`` when ``name`` is not one this store made."""
        if not SAVED_NAME.fullmatch(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def _sidecars_newest_first(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            (
                path
                for path in self.directory.iterdir()
                if path.suffix == SIDECAR_SUFFIX and SAVED_STEM.fullmatch(path.stem)
            ),
            key=lambda path: path.name,
            reverse=True,
        )

    def _read(self, sidecar: Path) -> HistoryEntry | None:
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # deleted by a concurrent prune, or not ours
        image = str(record.get("image", ""))
        if not SAVED_NAME.fullmatch(image):
            return None
        return HistoryEntry(image=image, record=record)

    def _prune(self) -> None:
        for sidecar in self._sidecars_newest_first()[self._limit :]:
            for path in self.directory.glob(sidecar.stem + ".*"):
                path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
