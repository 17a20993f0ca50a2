"""The session each SavedModel opens with: ``--tensorflow_session_config_file``'s message,
the flags over it as TensorFlow Serving sets them, and what that does to a served call."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.errors import Code, ServingError
from tensorserve.platforms.tensorflow.cuda_devices import cuda_device_count
from tensorserve.platforms.tensorflow.options import TensorFlowOptions
from tensorserve.platforms.tensorflow.runtime import config_pb2
from tensorserve.platforms.tensorflow.session_config import CALLER_THREAD, session_config
from tensorserve.platforms.tensorflow.tensorflow_model import TensorFlowModel

LoadModel = Callable[..., TensorFlowModel]

_FILE = config_pb2.ConfigProto(
    operation_timeout_in_ms=250,
    intra_op_parallelism_threads=7,
    inter_op_parallelism_threads=5,
    gpu_options=config_pb2.GPUOptions(allow_growth=True, per_process_gpu_memory_fraction=0.9),
).SerializeToString()


def test_without_a_file_the_flags_make_the_config() -> None:
    config = session_config(TensorFlowOptions(intra_op_parallelism=2))
    assert config.intra_op_parallelism_threads == 2
    assert config.inter_op_parallelism_threads == CALLER_THREAD
    assert config.allow_soft_placement
    assert config.operation_timeout_in_ms == 0


def test_the_files_settings_are_kept_and_the_flags_overwrite_threads_and_gpu_fraction() -> None:
    # As TensorFlow Serving's server.cc: the file first, then the flags, 0 included.
    config = session_config(TensorFlowOptions(session_config=_FILE))
    assert config.operation_timeout_in_ms == 250
    assert config.gpu_options.allow_growth
    assert config.gpu_options.per_process_gpu_memory_fraction == 0.0
    assert config.intra_op_parallelism_threads == 0
    assert config.inter_op_parallelism_threads == CALLER_THREAD
    flagged = session_config(
        TensorFlowOptions(
            session_config=_FILE,
            intra_op_parallelism=3,
            inter_op_parallelism=4,
            per_process_gpu_memory_fraction=0.5,
        )
    )
    assert (flagged.intra_op_parallelism_threads, flagged.inter_op_parallelism_threads) == (3, 4)
    assert flagged.gpu_options.per_process_gpu_memory_fraction == 0.5


@pytest.mark.skipif(cuda_device_count() > 0, reason="a CUDA device is visible here")
def test_without_a_cuda_device_sessions_count_no_gpu() -> None:
    assert session_config(TensorFlowOptions()).device_count["GPU"] == 0


def test_the_files_operation_timeout_ends_a_call_that_blocks(
    built_models: dict[str, Path], load_model: LoadModel
) -> None:
    # The model waits on a queue nothing fills: without a deadline of its own, only the
    # session's operation timeout, from the file, ends the call.
    model = load_model(built_models["blocking"], session_config=_FILE)
    started = time.monotonic()
    with pytest.raises(ServingError) as caught:
        model.predict("", {"x": np.array(1.0, dtype=np.float32)})
    assert caught.value.code is Code.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 10


def test_mixed_precision_bfloat16_turns_on_onednns_bfloat16_rewrite() -> None:
    rewrite = session_config(TensorFlowOptions(mixed_precision="bfloat16")).graph_options
    assert rewrite.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 1  # ON
    for mode in ("", "float16"):
        other = session_config(TensorFlowOptions(mixed_precision=mode)).graph_options
        assert other.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 0  # DEFAULT
