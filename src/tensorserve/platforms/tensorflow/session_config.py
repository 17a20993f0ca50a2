"""The ``ConfigProto`` each SavedModel's session opens with, built as TensorFlow Serving
builds it (``server.cc``): the ``--tensorflow_session_config_file`` message, or an empty
one, then the flags set over it.

So a file's thread counts never take effect, in TensorFlow Serving as here: its server
always writes ``intra_op_parallelism_threads`` and ``inter_op_parallelism_threads``
from the flags, 0 included, after reading the file. Everything else in the file
(``operation_timeout_in_ms``, ``graph_options``, ``gpu_options.allow_growth``,
``session_inter_op_thread_pool``...) reaches TensorFlow as written, apart from
``per_process_gpu_memory_fraction``, which its flag always sets. ``--mixed_precision
bfloat16`` turns on grappler's ``auto_mixed_precision_onednn_bfloat16``, as there.

Three choices of tensorserve's are set too. ``inter_op_parallelism_threads`` 0 becomes
-1, which runs a call's ops on the model thread that made it (``options.py`` says
why). ``allow_soft_placement`` is on, so a graph exported with a GPU device on its
nodes still loads on a machine without one. And where the CUDA driver shows no
device, ``device_count {"GPU": 0}`` skips CUDA's start-up (``cuda_devices.py``).
"""

from __future__ import annotations

from tensorserve.tensorflow_environment import BFLOAT16

from .cuda_devices import cuda_device_count
from .options import TensorFlowOptions
from .runtime import config_pb2

CALLER_THREAD = -1
"""``inter_op_parallelism_threads`` that makes TensorFlow run ops on the calling thread."""


def session_config(options: TensorFlowOptions) -> config_pb2.ConfigProto:
    """A new ``ConfigProto`` for one session."""
    config = config_pb2.ConfigProto.FromString(options.session_config)
    config.gpu_options.per_process_gpu_memory_fraction = options.per_process_gpu_memory_fraction
    config.intra_op_parallelism_threads = options.intra_op_parallelism
    config.inter_op_parallelism_threads = options.inter_op_parallelism or CALLER_THREAD
    config.allow_soft_placement = True
    if options.mixed_precision == BFLOAT16:  # other modes: warned about at start-up
        rewrite = config.graph_options.rewrite_options
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
    if not cuda_device_count():
        config.device_count["GPU"] = 0
    return config
