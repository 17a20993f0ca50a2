"""Tests of the TensorFlow-style rendering of any registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tensorserve.monitoring.exposition import label_name, metric_name, render_exposition


def test_names_are_sanitised_as_tensorflow_does() -> None:
    assert metric_name("/tensorflow/serving/request_count") == ":tensorflow:serving:request_count"
    assert metric_name("9lives") == "_9lives"
    assert label_name("API-name") == "API_name"
    assert label_name("0x") == "_0x"


def test_unlabelled_scalar_prints_empty_braces_and_int_value() -> None:
    registry = CollectorRegistry()
    Gauge("up", "Up.", registry=registry).set(1)
    assert render_exposition(registry) == "# TYPE up gauge\nup{} 1\n"


def test_label_values_are_escaped() -> None:
    registry = CollectorRegistry()
    Gauge("g", "G.", ["path"], registry=registry).labels('a"b\\c').set(2)
    assert 'g{path="a\\"b\\\\c"} 2' in render_exposition(registry)


def test_metric_without_samples_still_has_type_line() -> None:
    registry = CollectorRegistry()
    Counter("c", "C.", ["x"], registry=registry)
    assert render_exposition(registry) == "# TYPE c counter\n"


def test_histogram_prints_buckets_then_sum_then_count() -> None:
    registry = CollectorRegistry()
    Histogram("h", "H.", buckets=(1.0, 2.5), registry=registry).observe(2)
    assert render_exposition(registry) == (
        "# TYPE h histogram\n"
        'h_bucket{le="1"} 0\n'
        'h_bucket{le="2.5"} 1\n'
        'h_bucket{le="+Inf"} 1\n'
        "h_sum{} 2\n"
        "h_count{} 1\n"
    )


def test_empty_registry_renders_a_newline() -> None:
    assert render_exposition(CollectorRegistry()) == "\n"
