"""Tests of the lean metric cells and their collection as Prometheus families."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tensorserve.monitoring.metric_families import (
    CounterFamily,
    GaugeFamily,
    HistogramFamily,
    MetricSet,
)


def test_histogram_bucket_holds_values_up_to_and_including_its_bound() -> None:
    family = HistogramFamily("h", "H.", (), (1.0, 2.0))
    cell = family.labels()
    for value in (0.5, 1.0, 1.5, 2.0, 3.0):
        cell.observe(value)
    samples = {(s.name, s.labels.get("le")): s.value for s in family.collect().samples}
    assert samples[("h_bucket", "1.0")] == 2
    assert samples[("h_bucket", "2.0")] == 4
    assert samples[("h_bucket", "+Inf")] == 5
    assert samples[("h_sum", None)] == 8.0
    assert samples[("h_count", None)] == 5


def test_removed_label_set_disappears() -> None:
    family = GaugeFamily("g", "G.", ("x",))
    family.labels("a").set(1)
    family.labels("b").set(1)
    family.remove("a")
    assert [s.labels for s in family.collect().samples] == [{"x": "b"}]


def test_wrong_number_of_label_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="takes labels"):
        CounterFamily("c", "C.", ("x", "y")).labels("a")


def test_concurrent_increments_are_not_lost() -> None:
    family = CounterFamily("c", "C.", ("x",))

    def bump() -> None:
        for _ in range(5000):
            family.labels("a").inc()

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert family.labels("a").value == 40000


def test_metric_set_is_a_collector_prometheus_client_can_render() -> None:
    metric_set = MetricSet()
    metric_set.add(CounterFamily(":a:count", "Count.", ())).labels().inc(2)
    registry = CollectorRegistry()
    registry.register(metric_set)
    text = generate_latest(registry).decode()
    assert "counter" in text  # prometheus-client names the TYPE line its own way
    assert ":a:count 2.0" in text
