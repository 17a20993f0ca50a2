"""A Loader that serves its inner loader's model through a batching queue.

Batching stays a servable wrapping a servable: the TensorFlow loader knows
nothing about it, and this loader only wraps what that loader produced.

With ``--enable_per_model_batching_parameters`` the options are each version's own
(:func:`per_model_options`): its ``batching_params.pbtxt``, read at load as TensorFlow
Serving reads it, or no batching at all for a version without one.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

from tensorserve.batching.batching_model import BatchingModel
from tensorserve.batching.metrics_sink import BatchingMetricsSink
from tensorserve.batching.options import BatchingOptions
from tensorserve.batching.scheduler import SharedBatchScheduler
from tensorserve.config.text_protos import read_batching_parameters_file
from tensorserve.core.errors import FailedPrecondition, InvalidArgument
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.servables.model import Model

PER_MODEL_FILE = "batching_params.pbtxt"
"""A version's own batching parameters (TensorFlow Serving's ``kBatchingParamsFilename``)."""

OptionsAtLoad = Callable[[], "BatchingOptions | None"]
"""The options a version is batched with, asked after its inner load; None: not batched."""


class BatchingLoader(Loader):
    """Loads ``inner`` and exposes its model as a ``BatchingModel``. The manager
    serialises calls, as for any loader."""

    def __init__(
        self,
        inner: Loader,
        scheduler: SharedBatchScheduler,
        options: OptionsAtLoad,
        metrics: BatchingMetricsSink | None = None,
    ) -> None:
        self._inner = inner
        self._scheduler = scheduler
        self._options = options
        self._metrics = metrics
        self._model: Model | None = None

    def estimate_resources(self) -> ResourceEstimate:
        return self._inner.estimate_resources()

    def load(self) -> None:
        self._inner.load()
        try:
            options = self._options()
        except BaseException:
            self._inner.unload()
            raise
        model = self._inner.servable()
        if options is not None:
            model = BatchingModel(model, self._scheduler, options, self._metrics)
        self._model = model

    def unload(self) -> None:
        model, self._model = self._model, None
        if isinstance(model, BatchingModel):
            model.close()
        self._inner.unload()

    def servable(self) -> Model:
        if self._model is None:
            raise FailedPrecondition("Batching servable is not loaded")
        return self._model


def per_model_options(version_dir: pathlib.Path, common: BatchingOptions) -> BatchingOptions | None:
    """The version's ``batching_params.pbtxt`` as its batching options, or None (served
    without batching) when it has none, as in TensorFlow Serving. The shared scheduler's
    threads stay the server's: a file's ``num_batch_threads`` and ``thread_pool_name``
    are not read, there as here. A file that does not parse fails the load."""
    path = version_dir / PER_MODEL_FILE
    if not path.is_file():
        return None
    try:
        own = read_batching_parameters_file(path)
    except InvalidArgument as exc:
        raise InvalidArgument(f"Invalid protobuf file: '{path}': {exc.message}") from None
    return dataclasses.replace(
        own, num_batch_threads=common.num_batch_threads, thread_pool_name=common.thread_pool_name
    )
