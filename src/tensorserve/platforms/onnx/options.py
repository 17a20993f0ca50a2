"""Options of the ONNX Runtime platform, parsed from the server's flags at the edge.

Imports no ONNX Runtime, so command-line parsing stays cheap.
"""

from __future__ import annotations

import dataclasses

MODEL_FILENAME = "model.onnx"
"""The file in a version directory that the ONNX platform serves."""


@dataclasses.dataclass(frozen=True, slots=True)
class OnnxOptions:
    """How ONNX Runtime sessions are made (the server's thread flags apply to them)."""

    intra_op_parallelism: int = 0
    """Threads inside one operator (``--tensorflow_intra_op_parallelism``); 0 = ONNX
    Runtime decides (one per physical core)."""

    inter_op_parallelism: int = 0
    """Operators run in parallel (``--tensorflow_inter_op_parallelism``). 0 runs them one
    after another (ONNX Runtime's sequential mode), since concurrent requests already
    keep every core busy; a positive value turns on the parallel executor with that
    many threads."""
