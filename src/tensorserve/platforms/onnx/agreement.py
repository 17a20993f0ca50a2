"""How closely a twin's outputs agree with TensorFlow's: one number, used at export
and again at load. Pure numpy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def max_difference(expected: Mapping[str, np.ndarray], actual: Mapping[str, Any]) -> float:
    """Largest absolute float difference over ``expected``'s outputs (strings compared
    as bytes, other types exactly); ``inf`` for a missing output or any mismatch."""
    worst = 0.0
    for alias, want in expected.items():
        if alias not in actual:
            return float("inf")
        got = np.asarray(actual[alias])
        if got.shape != want.shape:
            return float("inf")
        if want.dtype.kind == "f":
            if got.size:
                worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want))))
        elif not np.array_equal(_comparable(got), _comparable(want)):
            return float("inf")
    return worst


def _comparable(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind in ("U", "O", "S"):
        return np.vectorize(
            lambda v: v.encode() if isinstance(v, str) else bytes(v), otypes=[object]
        )(array)
    return array
