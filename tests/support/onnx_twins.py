"""Test helpers for ONNX twins: spoil one so it disagrees with TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def add_to_output(twin: Path, output: str, amount: float) -> None:
    """Rewrite ``twin`` so that ``output`` comes out ``amount`` larger than it should."""
    model = onnx.load(str(twin))
    raw = f"{output}__before_spoiling"
    for node in model.graph.node:
        node.output[:] = [raw if name == output else name for name in node.output]
    constant = f"{output}__spoil"
    model.graph.initializer.append(numpy_helper.from_array(np.array(amount, np.float32), constant))
    model.graph.node.append(helper.make_node("Add", [raw, constant], [output]))
    onnx.save(model, str(twin))
