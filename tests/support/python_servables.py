"""Write Python servable version directories for tests: ``servable.py`` plus any
helper files, from source text."""

from __future__ import annotations

import textwrap
from pathlib import Path

DOUBLER = """
import numpy as np
import tensorserve

class Doubler(tensorserve.Servable):
    signatures = {
        "serving_default": tensorserve.Signature(
            inputs={"x": tensorserve.TensorSpec("float32", [-1])},
            outputs={"y": tensorserve.TensorSpec("float32", [-1])},
        ),
    }

    def load(self, context):
        self.factor = FACTOR

    def predict(self, inputs, context):
        return {"y": inputs["x"] * self.factor}
"""


def doubler(factor: float = 2.0) -> str:
    """A servable multiplying ``x`` by ``factor``: the issue's example."""
    return DOUBLER.replace("FACTOR", repr(factor))


def write_version(base: Path, version: int | str, files: dict[str, str]) -> Path:
    """Create ``base/<version>/`` with ``files`` (name -> source, dedented)."""
    path = base / str(version)
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(textwrap.dedent(text))
    return path
