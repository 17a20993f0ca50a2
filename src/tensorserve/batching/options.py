"""Batching options: TensorFlow Serving's ``BatchingParameters``, typed, in one place.

The config layer parses the ``--batching_parameters_file`` text proto straight
into a :class:`BatchingOptions` (``config/text_protos.py``); the server, the
scheduler and every batching model read this one object. The fields, names and
defaults are the proto's. Construction validates the combination with
TensorFlow Serving's messages.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import os

from tensorserve.core.errors import InvalidArgument

DEFAULT_THREAD_POOL_NAME = "model_server_batch_threads"


def default_num_batch_threads() -> int:
    """TensorFlow's MaxParallelism: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True, slots=True)
class BatchingOptions:
    """How requests to one model are grouped into batches.

    Attributes:
        max_batch_size: most rows in one batch; a larger single request fails
            (unless large batch splitting sets a smaller execution size, see
            :attr:`execution_batch_size`).
        batch_timeout_micros: longest the oldest task of an open batch waits
            before the batch runs unfilled (0: run as soon as a thread is free).
        max_enqueued_batches: queue bound per (version, signature), in batches;
            a task that would need one more batch fails with UNAVAILABLE.
        num_batch_threads: threads of the scheduler shared by every model
            (only the scheduler's creator reads it).
        thread_pool_name: name of that shared scheduler's threads (a metrics label).
        allowed_batch_sizes: increasing sizes a batch is padded up to; the last
            must equal ``max_batch_size``. Empty: batches run at their size.
        pad_variable_length_inputs: pad inputs of differing shapes (dims >= 1)
            to the batch maximum, filling with each tensor's first element.
        enable_large_batch_splitting: with ``max_execution_batch_size``, batches
            run at that size instead of ``max_batch_size``.
        max_execution_batch_size: the largest batch run when splitting is on.
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=default_num_batch_threads)
    thread_pool_name: str = DEFAULT_THREAD_POOL_NAME
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.max_batch_size <= 0:
            raise InvalidArgument("max_batch_size must be positive")
        if self.batch_timeout_micros < 0:
            raise InvalidArgument("batch_timeout_micros must be non-negative")
        if self.max_enqueued_batches <= 0:
            raise InvalidArgument("max_enqueued_batches must be positive")
        if self.num_batch_threads <= 0:
            raise InvalidArgument("num_batch_threads must be positive")
        sizes = self.allowed_batch_sizes
        if sizes:
            if any(b <= a for a, b in itertools.pairwise(sizes)) or sizes[0] <= 0:
                raise InvalidArgument(
                    "allowed_batch_sizes entries must be monotonically increasing"
                )
            if sizes[-1] != self.execution_batch_size:
                raise InvalidArgument(
                    "Last entry in allowed_batch_sizes must match max_batch_size; "
                    f"last entry was {sizes[-1]}; expected {self.execution_batch_size}"
                )

    @property
    def execution_batch_size(self) -> int:
        """The most rows one batch runs with (and one request may have)."""
        if self.enable_large_batch_splitting and self.max_execution_batch_size is not None:
            return self.max_execution_batch_size
        return self.max_batch_size

    @property
    def batch_timeout_s(self) -> float:
        return self.batch_timeout_micros / 1e6

    def padded_size(self, batch_size: int) -> int:
        """The smallest allowed batch size that holds ``batch_size`` rows."""
        sizes = self.allowed_batch_sizes
        if not sizes:
            return batch_size
        index = bisect.bisect_left(sizes, batch_size)
        return sizes[index] if index < len(sizes) else batch_size
