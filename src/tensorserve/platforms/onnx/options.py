"""Options of the ONNX Runtime platform, parsed from the server's flags at the edge.

Imports no ONNX Runtime, so command-line parsing stays cheap.
"""

from __future__ import annotations

import dataclasses

from tensorserve.batching.options import default_num_batch_threads as schedulable_cpus

MODEL_FILENAME = "model.onnx"
"""The file in a version directory that the ONNX platform serves."""


@dataclasses.dataclass(frozen=True, slots=True)
class OnnxOptions:
    """How ONNX Runtime sessions are made (the server's thread flags apply to them)."""

    intra_op_parallelism: int = 0
    """Threads inside one operator (``--tensorflow_intra_op_parallelism``). 0 (the
    default) runs each call on the thread that made it, as the TensorFlow platform does:
    concurrent requests already keep every core busy, and on this 2-core machine ONNX
    Runtime's own pool (one thread per core) halved the small CNN's images/s at batch 1
    and 32 against one thread (measured 5,170 and 7,145 against 11,330 and 14,231). A
    positive value sizes ONNX Runtime's pool."""

    @property
    def session_intra_op_threads(self) -> int:
        """``SessionOptions.intra_op_num_threads`` for this option (1 for 0)."""
        return self.intra_op_parallelism if self.intra_op_parallelism > 0 else 1

    inter_op_parallelism: int = 0
    """Operators run in parallel (``--tensorflow_inter_op_parallelism``). 0 runs them one
    after another (ONNX Runtime's sequential mode), since concurrent requests already
    keep every core busy; a positive value turns on the parallel executor with that
    many threads."""

    def calls_at_once(self, cores: int | None = None) -> int:
        """Calls of one session worth running at once: each computes on its calling
        thread (and its intra-op pool), so more than the cores (``cores``, default the
        CPUs this process may run on) only take turns on them, each turn's caches lost.
        On the 2-core target, 8 calls at once against 2 cost the small CNN 10-15% of its
        images/s (``docs/benchmarks.md``, "Model calls on warm threads")."""
        if cores is None:
            cores = schedulable_cpus()
        return max(1, cores // self.session_intra_op_threads)
