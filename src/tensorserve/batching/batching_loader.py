"""A Loader that serves its inner loader's model through a batching queue.

Batching stays a servable wrapping a servable: the TensorFlow loader knows
nothing about it, and this loader only wraps what that loader produced.
"""

from __future__ import annotations

from collections.abc import Callable

from tensorserve.batching.batching_model import BatchingModel
from tensorserve.batching.metrics_sink import BatchingMetricsSink
from tensorserve.batching.options import BatchingOptions
from tensorserve.batching.scheduler import SharedBatchScheduler
from tensorserve.core.errors import FailedPrecondition
from tensorserve.core.loader import Loader, ResourceEstimate


class BatchingLoader(Loader):
    """Loads ``inner`` and exposes its model as a ``BatchingModel``. The manager
    serialises calls, as for any loader."""

    def __init__(
        self,
        inner: Loader,
        scheduler: SharedBatchScheduler,
        options: BatchingOptions,
        metrics: BatchingMetricsSink | None = None,
    ) -> None:
        self._inner = inner
        self._scheduler = scheduler
        self._options = options
        self._metrics = metrics
        self._model: BatchingModel | None = None

    def estimate_resources(self) -> ResourceEstimate:
        return self._inner.estimate_resources()

    def load(self) -> None:
        self._inner.load()
        self._model = BatchingModel(
            self._inner.servable(), self._scheduler, self._options, self._metrics
        )

    def unload(self) -> None:
        model, self._model = self._model, None
        if model is not None:
            model.close()
        self._inner.unload()

    def servable(self) -> BatchingModel:
        if self._model is None:
            raise FailedPrecondition("Batching servable is not loaded")
        return self._model


def batching_wrapper(
    scheduler: SharedBatchScheduler,
    options: BatchingOptions,
    metrics: BatchingMetricsSink | None = None,
) -> Callable[[Loader], Loader]:
    """A function that wraps each new loader so its model is batched."""

    def wrap(inner: Loader) -> Loader:
        return BatchingLoader(inner, scheduler, options, metrics)

    return wrap
