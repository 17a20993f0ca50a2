"""What batching reports, for metrics; ``monitoring/`` implements it.

Kept as a protocol here so batching never imports a metrics library. The
facts are TensorFlow Serving's ``batching_session`` metrics.
"""

from __future__ import annotations

from typing import Protocol


class BatchingMetricsSink(Protocol):
    """Thread-safe sink for batching facts; called on hot paths, so keep it cheap."""

    def task_enqueued(self, size: int) -> None:
        """A request of ``size`` rows entered a batch queue (``input_batch_size``)."""
        ...

    def task_dequeued(self, thread_pool_name: str, queued_seconds: float) -> None:
        """A task left its queue for a batch after waiting (``queuing_latency``)."""
        ...

    def batch_run(self, processed_size: int, padding_rows: int) -> None:
        """The wrapped model ran one batch of ``processed_size`` rows, of which
        ``padding_rows`` were padding (``wrapped_run_count``,
        ``processed_batch_size``, ``padding_size``)."""
        ...


class NullBatchingMetrics:
    """Records nothing; the default."""

    def task_enqueued(self, size: int) -> None:
        pass

    def task_dequeued(self, thread_pool_name: str, queued_seconds: float) -> None:
        pass

    def batch_run(self, processed_size: int, padding_rows: int) -> None:
        pass
