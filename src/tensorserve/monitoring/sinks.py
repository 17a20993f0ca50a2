"""The request observer and batching sink that feed :class:`Metrics`.

Both sit on hot paths: each event is a dict read for the labelled cell and
one locked update (about a microsecond).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorserve.core.errors import Code

if TYPE_CHECKING:
    from tensorserve.monitoring.metrics import Metrics

RUNTIME = "TF1"  # TensorFlow Serving's runtime label for SavedModel sessions


class PrometheusRequestObserver:
    """The data plane's ``RequestObserver``. Thread-safe."""

    def __init__(self, metrics: Metrics) -> None:
        self._count = metrics.request_count
        self._latency = metrics.request_latency
        self._runtime = metrics.runtime_latency
        self._inflight = metrics.inflight_requests
        self._record_examples = metrics.record_examples

    def inflight(self, model: str, delta: int) -> None:
        self._inflight.labels(model).inc(delta)

    def request_finished(
        self, model: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None:
        """Count every request by status; time only the successful ones, as TF does."""
        self._count.labels(model, code.name).inc()
        if code is Code.OK:
            self._latency.labels(model, api, entrypoint).observe(seconds * 1e6)

    def runtime(self, model: str, api: str, seconds: float) -> None:
        self._runtime.labels(model, api, RUNTIME).observe(seconds * 1e6)

    def examples(self, model: str, count: int) -> None:
        self._record_examples(model, count)


class PrometheusBatchingSink:
    """Every ``BatchingModel``'s ``BatchingMetricsSink``. Thread-safe."""

    def __init__(self, metrics: Metrics) -> None:
        self._input_batch_size = metrics.input_batch_size.labels()
        self._processed_batch_size = metrics.processed_batch_size.labels()
        self._wrapped_run_count = metrics.wrapped_run_count.labels()
        self._queuing = metrics.queuing_latency
        self._padding = metrics.padding_size

    def task_enqueued(self, size: int) -> None:
        self._input_batch_size.observe(size)

    def task_dequeued(self, thread_pool_name: str, queued_seconds: float) -> None:
        self._queuing.labels(thread_pool_name).observe(queued_seconds * 1e6)

    def batch_run(self, processed_size: int, padding_rows: int) -> None:
        self._wrapped_run_count.inc()
        self._processed_batch_size.observe(processed_size)
        self._padding.labels(str(processed_size)).observe(padding_rows)
