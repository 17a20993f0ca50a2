"""Batching for one SavedModel platform: ``--enable_batching`` with
``--batching_parameters_file`` (and ``--enable_per_model_batching_parameters``), or a
``--platform_config_file`` entry's ``batching_parameters``.

:class:`ServerBatching` owns the platform's one :class:`SharedBatchScheduler`
(its threads start when it is made) and wraps each model's loader so that
model is served through a batching queue. The composition root makes one per batched
platform and stops them after the models are unloaded.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from tensorserve.batching.batching_loader import BatchingLoader, per_model_options
from tensorserve.batching.metrics_sink import BatchingMetricsSink
from tensorserve.batching.options import BatchingOptions
from tensorserve.batching.scheduler import SharedBatchScheduler
from tensorserve.core.loader import Loader


class ServerBatching:
    """The scheduler every batched model of one platform shares. ``wrap`` is thread-safe."""

    def __init__(
        self, options: BatchingOptions, metrics: BatchingMetricsSink, *, per_model: bool = False
    ) -> None:
        self.scheduler = SharedBatchScheduler(
            options.num_batch_threads, thread_pool_name=options.thread_pool_name
        )
        self.scheduler.start()
        self.options = options
        self.per_model = per_model
        """``--enable_per_model_batching_parameters``: each version's own file, or none."""
        self._metrics = metrics

    def wrap(self, loader: Loader, version_dir: Callable[[], pathlib.Path]) -> Loader:
        """``loader``, loading a model that is served through the batching queues.
        ``version_dir`` gives the loaded version's local directory (after its load), where
        per-model batching reads ``batching_params.pbtxt``."""

        def options_at_load() -> BatchingOptions | None:
            if not self.per_model:
                return self.options
            return per_model_options(version_dir(), self.options)

        return BatchingLoader(loader, self.scheduler, options_at_load, self._metrics)

    def stop(self, timeout_s: float | None = None) -> None:
        """Fail what is still queued and join the batch threads (``timeout_s`` in all;
        a batch hanging in its model is left to its daemon thread); after every unload."""
        self.scheduler.stop(timeout_s)
