"""Prometheus metrics with TensorFlow Serving's names, and the page that shows them."""

from tensorserve.monitoring.asgi import prometheus_asgi_app
from tensorserve.monitoring.exposition import CONTENT_TYPE, render_exposition
from tensorserve.monitoring.metrics import (
    LATENCY_BUCKETS_US,
    QUEUING_LATENCY_BUCKETS_US,
    Metrics,
    exponential_buckets,
)
from tensorserve.monitoring.sinks import PrometheusBatchingSink, PrometheusRequestObserver

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS_US",
    "QUEUING_LATENCY_BUCKETS_US",
    "Metrics",
    "PrometheusBatchingSink",
    "PrometheusRequestObserver",
    "exponential_buckets",
    "prometheus_asgi_app",
    "render_exposition",
]
