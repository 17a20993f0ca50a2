"""Batching for one whole server: ``--enable_batching`` with ``--batching_parameters_file``.

:class:`ServerBatching` owns the server's one :class:`SharedBatchScheduler`
(its threads start when it is made) and wraps each model's loader so that
model is served through a batching queue. The composition root makes one and
stops it after the models are unloaded.
"""

from __future__ import annotations

from tensorserve.batching.batching_loader import batching_wrapper
from tensorserve.batching.metrics_sink import BatchingMetricsSink
from tensorserve.batching.options import BatchingOptions
from tensorserve.batching.scheduler import SharedBatchScheduler
from tensorserve.config.text_protos import read_batching_parameters_file
from tensorserve.core.loader import Loader


class ServerBatching:
    """The scheduler every batched model of a server shares. ``wrap`` is thread-safe."""

    def __init__(self, options: BatchingOptions, metrics: BatchingMetricsSink) -> None:
        self.scheduler = SharedBatchScheduler(
            options.num_batch_threads, thread_pool_name=options.thread_pool_name
        )
        self.scheduler.start()
        self._wrap = batching_wrapper(self.scheduler, options, metrics)

    @classmethod
    def from_file(cls, path: str, metrics: BatchingMetricsSink) -> ServerBatching:
        """From ``--batching_parameters_file`` (TensorFlow Serving's defaults when "")."""
        return cls(read_batching_parameters_file(path) if path else BatchingOptions(), metrics)

    def wrap(self, loader: Loader) -> Loader:
        """``loader``, loading a model that is served through the batching queues."""
        return self._wrap(loader)

    def stop(self, timeout_s: float | None = None) -> None:
        """Fail what is still queued and join the batch threads (``timeout_s`` in all;
        a batch hanging in its model is left to its daemon thread); after every unload."""
        self.scheduler.stop(timeout_s)
