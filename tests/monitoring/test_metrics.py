"""Tests of Metrics: TensorFlow Serving's names, types, labels and buckets on the page."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry

from tensorserve.core.errors import Code, InvalidArgument
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.monitoring import LATENCY_BUCKETS_US, QUEUING_LATENCY_BUCKETS_US, Metrics

EXPECTED_TYPES = {
    ":tensorflow:serving:request_count": "counter",
    ":tensorflow:serving:request_latency": "histogram",
    ":tensorflow:serving:runtime_latency": "histogram",
    ":tensorflow:serving:request_example_counts": "histogram",
    ":tensorflow:serving:request_example_count_total": "counter",
    ":tensorflow:serving:request_log_count": "counter",
    ":tensorflow:serving:model_warmup_latency": "histogram",
    ":tensorflow:serving:model_warmup_records_read": "counter",
    ":tensorflow:serving:batching_session:queuing_latency": "histogram",
    ":tensorflow:serving:batching_session:wrapped_run_count": "counter",
    ":tensorflow:serving:batching_session:input_batch_size": "histogram",
    ":tensorflow:serving:batching_session:processed_batch_size": "histogram",
    ":tensorflow:serving:batching_session:padding_size": "histogram",
    ":tensorflow:cc:saved_model:load_attempt_count": "counter",
    ":tensorflow:cc:saved_model:load_latency": "counter",
    ":tensorserve:model_version_state": "gauge",
    ":tensorserve:inflight_requests": "gauge",
}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def lines_of(metrics: Metrics, prefix: str) -> list[str]:
    return [line for line in metrics.render().splitlines() if line.startswith(prefix)]


def test_every_metric_has_its_type_line_before_any_sample(metrics: Metrics) -> None:
    page = metrics.render()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", page, re.MULTILINE))
    assert types == EXPECTED_TYPES
    assert "# HELP" not in page
    assert "_created" not in page


def test_metrics_objects_do_not_share_state() -> None:
    first, second = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    first.observer().request_finished("m", "predict", "REST", Code.OK, 0.001)
    assert not lines_of(second, ":tensorflow:serving:request_count{")


def test_request_count_counts_every_status_without_total_suffix(metrics: Metrics) -> None:
    observer = metrics.observer()
    observer.request_finished("half", "predict", "REST", Code.OK, 0.001)
    observer.request_finished("half", "predict", "REST", Code.OK, 0.002)
    observer.request_finished("half", "predict", "GRPC", Code.NOT_FOUND, 0.001)
    assert lines_of(metrics, ":tensorflow:serving:request_count") == [
        ':tensorflow:serving:request_count{model_name="half",status="OK"} 2',
        ':tensorflow:serving:request_count{model_name="half",status="NOT_FOUND"} 1',
    ]


def test_request_latency_is_microseconds_and_only_for_ok(metrics: Metrics) -> None:
    observer = metrics.observer()
    observer.request_finished("half", "Predict", "GRPC", Code.OK, 0.0015)
    observer.request_finished("half", "Predict", "GRPC", Code.INTERNAL, 5.0)
    labels = 'model_name="half",API="Predict",entrypoint="GRPC"'
    lines = lines_of(metrics, ":tensorflow:serving:request_latency")
    assert f":tensorflow:serving:request_latency_sum{{{labels}}} 1500" in lines
    assert f":tensorflow:serving:request_latency_count{{{labels}}} 1" in lines
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="1102"}} 0' in lines
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="1983.59"}} 1' in lines


def test_every_protocol_is_counted_in_the_same_families(metrics: Metrics) -> None:
    observer = metrics.observer()
    for protocol in ("REST", "GRPC", "V2_REST", "V2_GRPC"):
        observer.request_finished("half", "predict", protocol, Code.OK, 0.001)
    assert lines_of(metrics, ":tensorflow:serving:request_count{") == [
        ':tensorflow:serving:request_count{model_name="half",status="OK"} 4'
    ]
    counts = lines_of(metrics, ":tensorflow:serving:request_latency_count{")
    assert counts == [
        f':tensorflow:serving:request_latency_count{{model_name="half",API="predict",'
        f'entrypoint="{protocol}"}} 1'
        for protocol in ("REST", "GRPC", "V2_REST", "V2_GRPC")
    ]


def test_the_observer_records_examples_per_request(metrics: Metrics) -> None:
    metrics.observer().examples("half", 3)
    assert lines_of(metrics, ":tensorflow:serving:request_example_count_total{") == [
        ':tensorflow:serving:request_example_count_total{model="half"} 3'
    ]


def test_latency_histograms_use_tensorflow_buckets(metrics: Metrics) -> None:
    assert len(LATENCY_BUCKETS_US) == 33
    assert LATENCY_BUCKETS_US[:3] == pytest.approx((10, 18, 32.4))
    assert len(QUEUING_LATENCY_BUCKETS_US) == 52
    assert QUEUING_LATENCY_BUCKETS_US[:2] == pytest.approx((100, 120))
    metrics.observer().runtime("half", "predict", 0.000001)
    buckets = lines_of(metrics, ":tensorflow:serving:runtime_latency_bucket")
    assert len(buckets) == 34
    assert buckets[0] == (
        ':tensorflow:serving:runtime_latency_bucket{model_name="half",API="predict",'
        'runtime="TF1",le="10"} 1'
    )
    assert buckets[-2].endswith('le="1.47476e+09"} 1')
    assert buckets[-1].endswith('le="+Inf"} 1')


def test_inflight_gauge_follows_deltas(metrics: Metrics) -> None:
    observer = metrics.observer()
    observer.inflight("half", 1)
    observer.inflight("half", 1)
    observer.inflight("half", -1)
    assert lines_of(metrics, ":tensorserve:inflight_requests{") == [
        ':tensorserve:inflight_requests{model_name="half"} 1'
    ]


def test_version_state_gauge_shows_only_the_current_state(metrics: Metrics) -> None:
    for state in (ManagerState.START, ManagerState.LOADING, ManagerState.AVAILABLE):
        metrics.on_servable_state(ServableState(ServableId("half", 3), state))
    metrics.on_servable_state(ServableState(ServableId("half", 2), ManagerState.END))
    assert lines_of(metrics, ":tensorserve:model_version_state{") == [
        ':tensorserve:model_version_state{model_name="half",version="3",state="AVAILABLE"} 1',
        ':tensorserve:model_version_state{model_name="half",version="2",state="END"} 1',
    ]


def test_loads_are_counted_by_outcome_with_latency_in_microseconds(metrics: Metrics) -> None:
    metrics.record_load("/models/half/1", True, 0.25)
    metrics.record_load("/models/half/2", False, 0.5)
    page = metrics.render().splitlines()
    assert [line for line in page if ":tensorflow:cc:saved_model:" in line] == [
        "# TYPE :tensorflow:cc:saved_model:load_attempt_count counter",
        ':tensorflow:cc:saved_model:load_attempt_count{model_path="/models/half/1",'
        'status="success"} 1',
        ':tensorflow:cc:saved_model:load_attempt_count{model_path="/models/half/2",'
        'status="fail"} 1',
        "# TYPE :tensorflow:cc:saved_model:load_latency counter",
        ':tensorflow:cc:saved_model:load_latency{model_path="/models/half/1"} 250000',
        ':tensorflow:cc:saved_model:load_latency{model_path="/models/half/2"} 500000',
    ]


def test_warmup_records_status_as_tensorflow_prints_it(metrics: Metrics) -> None:
    metrics.record_warmup("/m/1", 0.01, 5, None)
    metrics.record_warmup("/m/2", 0.01, 0, InvalidArgument("too many"))
    lines = lines_of(metrics, ":tensorflow:serving:model_warmup_records_read{")
    assert lines == [
        ':tensorflow:serving:model_warmup_records_read{model_path="/m/1",status="OK"} 5',
        ':tensorflow:serving:model_warmup_records_read{model_path="/m/2",'
        'status="INVALID_ARGUMENT: too many"} 0',
    ]
    assert lines_of(metrics, ":tensorflow:serving:model_warmup_latency_count{")


def test_example_counts_go_to_histogram_and_total(metrics: Metrics) -> None:
    metrics.record_examples("half", 3)
    assert lines_of(metrics, ":tensorflow:serving:request_example_count_total{") == [
        ':tensorflow:serving:request_example_count_total{model="half"} 3'
    ]
    assert ':tensorflow:serving:request_example_counts_bucket{model="half",le="4"} 1' in (
        lines_of(metrics, ":tensorflow:serving:request_example_counts_bucket")
    )


def test_batching_sink_fills_batching_session_metrics(metrics: Metrics) -> None:
    sink = metrics.batching_sink()
    sink.task_enqueued(3)
    sink.task_dequeued("model_server_batch_threads", 0.0002)
    sink.batch_run(4, 1)
    page = metrics.render()
    assert ":tensorflow:serving:batching_session:wrapped_run_count{} 1\n" in page
    assert ":tensorflow:serving:batching_session:input_batch_size_sum{} 3\n" in page
    assert ":tensorflow:serving:batching_session:processed_batch_size_count{} 1\n" in page
    assert (
        ":tensorflow:serving:batching_session:padding_size_sum"
        '{execution_batch_size="4"} 1\n' in page
    )
    assert (
        ":tensorflow:serving:batching_session:queuing_latency_bucket"
        '{thread_pool_name="model_server_batch_threads",le="207.36"} 1\n' in page
    )


def test_counter_total_sums_every_label_of_a_counter() -> None:
    from prometheus_client import CollectorRegistry

    from tensorserve.monitoring.metrics import Metrics

    metrics = Metrics(CollectorRegistry())
    metrics.record_load("/m/1", True, 0.1)
    metrics.record_load("/m/2", False, 0.1)
    metrics.record_load("/m/2", True, 0.1)
    assert metrics.counter_total("/tensorflow/cc/saved_model/load_attempt_count") == 3
    assert metrics.counter_total(":tensorflow:cc:saved_model:load_attempt_count") == 3
    assert metrics.counter_total("/no/such/metric") is None
