"""Where the tests find things outside the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TFSERVING_TESTDATA = (REPO_ROOT / ".." / "shared" / "testdata" / "tfserving").resolve()


def tfserving_model(name: str) -> Path:
    """Base path of one of TensorFlow Serving's own test models; skips when absent."""
    path = TFSERVING_TESTDATA / name
    if not path.is_dir():
        pytest.skip(f"TensorFlow Serving test data not found at {path}")
    return path
