"""Options of the TensorFlow platform, parsed from flags at the edge.

Imports no TensorFlow, so command-line parsing stays cheap.
"""

from __future__ import annotations

import dataclasses

DEFAULT_SAVED_MODEL_TAGS: frozenset[str] = frozenset({"serve"})


@dataclasses.dataclass(frozen=True, slots=True)
class TensorFlowOptions:
    """How SavedModels are loaded and run (TensorFlow Serving's session flags)."""

    saved_model_tags: frozenset[str] = DEFAULT_SAVED_MODEL_TAGS
    """MetaGraph tags to load (``--saved_model_tags``, comma-separated, default ``serve``)."""

    intra_op_parallelism: int = 0
    """Threads inside one op (``--tensorflow_intra_op_parallelism``); 0 = TensorFlow decides."""

    inter_op_parallelism: int = 0
    """Ops run in parallel (``--tensorflow_inter_op_parallelism``). 0 (the default) runs
    each call's ops on the model thread that made it, as a negative value does in
    TensorFlow: a hand-over to TensorFlow's own pool costs more than a small model's
    whole work (12 against 57 µs of CPU per half_plus_two call, measured on 2 cores),
    and concurrent requests already keep every core busy. A positive value sizes
    TensorFlow's inter-op pool as in TensorFlow Serving."""

    session_config: bytes = b""
    """A serialized ``tensorflow.ConfigProto`` every session starts from
    (``--tensorflow_session_config_file``); the flags above, and the GPU memory fraction,
    are set over it (``session_config.py``)."""

    per_process_gpu_memory_fraction: float = 0.0
    """``GPUOptions.per_process_gpu_memory_fraction`` (``--per_process_gpu_memory_fraction``;
    0 lets TensorFlow decide)."""

    mixed_precision: str = ""
    """``--mixed_precision``: ``bfloat16`` turns on grappler's oneDNN bfloat16 rewrite, as
    in TensorFlow Serving; it runs only with ``TF_ENABLE_ONEDNN_OPTS=1``."""

    enable_model_warmup: bool = True
    """Replay ``assets.extra/tf_serving_warmup_requests`` while loading
    (``--enable_model_warmup``)."""

    num_request_iterations_for_warmup: int = 0
    """Times each warmup record is replayed; 0 = once (``--num_request_iterations_for_warmup``)."""

    enable_signature_method_name_check: bool = False
    """Require classify/regress/predict signatures to carry the matching ``method_name``
    (``--enable_signature_method_name_check``)."""

    session_timeout_s: float | None = None
    """Run timeout applied when a call gives none (None = no timeout)."""

    @classmethod
    def parse_tags(cls, flag_value: str) -> frozenset[str]:
        """The tag set of a ``--saved_model_tags`` value (``"serve,gpu"``)."""
        return frozenset(tag.strip() for tag in flag_value.split(",") if tag.strip())

    @property
    def warmup_iterations(self) -> int:
        """How many times each warmup record runs (at least once)."""
        return max(self.num_request_iterations_for_warmup, 1)
