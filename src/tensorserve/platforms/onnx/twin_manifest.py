"""The record of a version's ONNX twins: ``assets.extra/onnx/twins.json``.

A twin is an ONNX model computing one predict signature of a SavedModel, in
``assets.extra/onnx/<signature>.onnx`` beside it. ``assets.extra`` is where
TensorFlow Serving keeps files that are not the SavedModel (warmup requests),
so a twin travels with its version and a server that knows nothing of twins
ignores it. The manifest says, per signature, whether a twin was written and
verified (with the largest difference found and the tolerance it met) or why
the signature stays TensorFlow-only. Imports neither TensorFlow nor ONNX Runtime.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

TWINS_DIR = Path("assets.extra") / "onnx"
MANIFEST_FILENAME = "twins.json"

VERIFIED = "verified"
TENSORFLOW_ONLY = "tensorflow-only"


@dataclasses.dataclass(frozen=True, slots=True)
class TwinRecord:
    """One signature's outcome: ``status`` VERIFIED (``file`` set) or TENSORFLOW_ONLY."""

    status: str
    file: str = ""
    max_abs_difference: float = 0.0
    tolerance: float = 0.0
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED and bool(self.file)


def twin_filename(signature_name: str) -> str:
    """A file name for a signature's twin; names with path characters are escaped."""
    safe = "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02x}" for c in signature_name)
    return f"{safe}.onnx"


def manifest_path(version_dir: Path) -> Path:
    return version_dir / TWINS_DIR / MANIFEST_FILENAME


def write_manifest(version_dir: Path, records: Mapping[str, TwinRecord]) -> Path:
    path = manifest_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "signatures": {name: dataclasses.asdict(record) for name, record in records.items()}
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_manifest(version_dir: Path) -> dict[str, TwinRecord]:
    """The records of ``version_dir``; empty when it has no manifest. Raises ValueError
    when the manifest cannot be read."""
    path = manifest_path(version_dir)
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {name: TwinRecord(**fields) for name, fields in document["signatures"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"Unreadable ONNX twin manifest {path}: {exc}") from None
