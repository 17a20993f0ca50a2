"""The server's metrics: TensorFlow Serving's names, types, labels and buckets.

One :class:`Metrics` is made by the composition root around a
``CollectorRegistry`` it owns (nothing is global) and handed to the layers
that report: the data plane gets :meth:`Metrics.observer`, batching
:meth:`Metrics.batching_sink`, the state monitor :meth:`Metrics.on_servable_state`
as a listener, and the platform loader :meth:`Metrics.record_load` and
:meth:`Metrics.record_warmup`. Latencies are in microseconds, as TensorFlow's.
Two gauges are ours (``:tensorserve:``): version states and in-flight requests.
"""

from __future__ import annotations

import re
import threading

from prometheus_client import CollectorRegistry

from tensorserve.batching.metrics_sink import BatchingMetricsSink
from tensorserve.core.errors import ServingError
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ServableState
from tensorserve.dataplane.observer import RequestObserver
from tensorserve.monitoring.exposition import render_exposition
from tensorserve.monitoring.metric_families import (
    CounterFamily,
    GaugeFamily,
    HistogramFamily,
    MetricSet,
)
from tensorserve.monitoring.sinks import PrometheusBatchingSink, PrometheusRequestObserver


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """TensorFlow's ``Buckets::Exponential``: scale, scale*growth, ... (``count`` bounds)."""
    bounds = []
    bound = scale
    for _ in range(count):
        bounds.append(bound)
        bound *= growth
    return tuple(bounds)


LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)
QUEUING_LATENCY_BUCKETS_US = exponential_buckets(100, 1.2, 52)
EXAMPLE_COUNT_BUCKETS = exponential_buckets(1, 2, 15)  # 1 ... 16384
BATCH_SIZE_BUCKETS = exponential_buckets(1, 2, 15)

SERVING = ":tensorflow:serving:"
BATCHING = ":tensorflow:serving:batching_session:"
SAVED_MODEL = ":tensorflow:cc:saved_model:"
OURS = ":tensorserve:"


class Metrics:
    """Every metric of one server, exposed through ``registry``. Thread-safe."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._families = MetricSet()

        def counter(name: str, doc: str, *labels: str) -> CounterFamily:
            return self._families.add(CounterFamily(name, doc, labels))

        def gauge(name: str, doc: str, *labels: str) -> GaugeFamily:
            return self._families.add(GaugeFamily(name, doc, labels))

        def histogram(
            name: str, doc: str, buckets: tuple[float, ...], *labels: str
        ) -> HistogramFamily:
            return self._families.add(HistogramFamily(name, doc, labels, buckets))

        self.request_count = counter(
            SERVING + "request_count", "Number of requests.", "model_name", "status"
        )
        self.request_latency = histogram(
            SERVING + "request_latency",
            "Distribution of wall time (in microseconds) for successful requests.",
            LATENCY_BUCKETS_US,
            "model_name",
            "API",
            "entrypoint",
        )
        self.runtime_latency = histogram(
            SERVING + "runtime_latency",
            "Distribution of wall time (in microseconds) for the model runtime.",
            LATENCY_BUCKETS_US,
            "model_name",
            "API",
            "runtime",
        )
        self.request_example_counts = histogram(
            SERVING + "request_example_counts",
            "The number of tensorflow.Examples per request.",
            EXAMPLE_COUNT_BUCKETS,
            "model",
        )
        self.request_example_count_total = counter(
            SERVING + "request_example_count_total",
            "The total number of tensorflow.Examples.",
            "model",
        )
        self.request_log_count = counter(
            SERVING + "request_log_count",
            "The total number of requests logged from the model server.",
            "model_name",
            "status_code",
        )
        self.model_warmup_latency = histogram(
            SERVING + "model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            LATENCY_BUCKETS_US,
            "model_path",
            "status",
        )
        self.model_warmup_records_read = counter(
            SERVING + "model_warmup_records_read",
            "Number of warmup records read.",
            "model_path",
            "status",
        )
        self.queuing_latency = histogram(
            BATCHING + "queuing_latency",
            "Distribution of wall time (in microseconds) a task waited in a batch queue.",
            QUEUING_LATENCY_BUCKETS_US,
            "thread_pool_name",
        )
        self.wrapped_run_count = counter(
            BATCHING + "wrapped_run_count", "Number of runs of the wrapped model."
        )
        self.input_batch_size = histogram(
            BATCHING + "input_batch_size", "Rows per request.", BATCH_SIZE_BUCKETS
        )
        self.processed_batch_size = histogram(
            BATCHING + "processed_batch_size",
            "Rows per batch run, padding included.",
            BATCH_SIZE_BUCKETS,
        )
        self.padding_size = histogram(
            BATCHING + "padding_size",
            "Padding rows per batch run.",
            BATCH_SIZE_BUCKETS,
            "execution_batch_size",
        )
        self.load_attempt_count = counter(
            SAVED_MODEL + "load_attempt_count",
            "The number of times a SavedModel was successfully loaded.",
            "model_path",
            "status",
        )
        self.load_latency = counter(
            SAVED_MODEL + "load_latency",
            "Latency in microseconds for SavedModels that were successfully loaded.",
            "model_path",
        )
        self.model_version_state = gauge(
            OURS + "model_version_state",
            "1 for the current state of each model version.",
            "model_name",
            "version",
            "state",
        )
        self.inflight_requests = gauge(
            OURS + "inflight_requests", "Requests being served now.", "model_name"
        )

        registry.register(self._families)
        self._states: dict[ServableId, str] = {}
        self._states_lock = threading.Lock()
        self._observer = PrometheusRequestObserver(self)
        self._batching_sink = PrometheusBatchingSink(self)

    def observer(self) -> RequestObserver:
        """The data plane's per-request sink."""
        return self._observer

    def batching_sink(self) -> BatchingMetricsSink:
        """The sink every ``BatchingModel`` of the server reports to."""
        return self._batching_sink

    def on_servable_state(self, state: ServableState) -> None:
        """A ``ServableStateMonitor`` listener: mark the version's current state."""
        version = str(state.id.version)
        new = state.state.name
        with self._states_lock:
            old = self._states.get(state.id)
            self._states[state.id] = new
            if old is not None and old != new:
                self.model_version_state.remove(state.id.name, version, old)
            self.model_version_state.labels(state.id.name, version, new).set(1)

    def record_load(self, model_path: str, ok: bool, seconds: float) -> None:
        """One SavedModel load attempt (TensorFlow's ``load_attempt_count``/``load_latency``)."""
        self.load_attempt_count.labels(model_path, "success" if ok else "fail").inc()
        self.load_latency.labels(model_path).inc(round(seconds * 1e6))

    def record_warmup(
        self, model_path: str, seconds: float, records_read: int, error: ServingError | None
    ) -> None:
        """One warmup run; ``status`` is ``OK`` or the error as TensorFlow prints it."""
        status = "OK" if error is None else error.with_prefix()
        self.model_warmup_latency.labels(model_path, status).observe(seconds * 1e6)
        self.model_warmup_records_read.labels(model_path, status).inc(records_read)

    def record_examples(self, model: str, count: int) -> None:
        """Examples in one classify/regress request."""
        self.request_example_counts.labels(model).observe(count)
        self.request_example_count_total.labels(model).inc(count)

    def counter_total(self, name: str) -> int | None:
        """The sum over all labels of counter ``name`` (TensorFlow's ``/a/b`` form or
        the exposed ``:a:b`` form), or None when no such metric has samples."""
        wanted = re.sub(r"[^A-Za-z0-9_]", ":", name)
        values = [
            sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == wanted
        ]
        return int(sum(values)) if values else None

    def render(self) -> str:
        """The Prometheus page for the whole registry, in TensorFlow Serving's format."""
        return render_exposition(self.registry)
