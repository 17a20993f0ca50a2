"""Tests of BatchingModel: batches form, run once, split back, and fail as TF Serving's do."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tensorserve.batching import (
    BatchingModel,
    BatchingOptions,
    NullBatchingMetrics,
    SharedBatchScheduler,
)
from tensorserve.core.errors import (
    Code,
    FailedPrecondition,
    InvalidArgument,
    ServingError,
)
from tensorserve.servables.model import Model
from tests.batching.fake_models import RecordingModel, ThreadResults
from tests.support.waiting import wait_until


@pytest.fixture
def scheduler() -> Iterator[SharedBatchScheduler]:
    scheduler = SharedBatchScheduler(num_batch_threads=1, thread_pool_name="test_batch_threads")
    scheduler.start()
    yield scheduler
    scheduler.stop()


def rows(*values: float, width: int = 2) -> np.ndarray:
    return np.array([[v] * width for v in values], dtype=np.float32)


def hold_slot(model: BatchingModel, inner: RecordingModel, calls: ThreadResults) -> None:
    """Occupy the only batch slot with a request that waits for ``inner.gate``."""
    inner.gate.clear()
    calls.start(-1, model.predict, "serving_default", {"x": rows(-1)})
    assert inner.entered.wait(10)


def queue_requests(
    model: BatchingModel,
    calls: ThreadResults,
    requests: dict[int, dict[str, np.ndarray]],
    **kw: float,
) -> None:
    base = model.num_enqueued_tasks
    for key, inputs in requests.items():
        calls.start(key, model.predict, "serving_default", inputs, **kw)
    wait_until(lambda: model.num_enqueued_tasks == base + len(requests), 10, what="queued")


def test_batching_model_is_a_model(scheduler: SharedBatchScheduler) -> None:
    model = BatchingModel(RecordingModel(), scheduler, BatchingOptions())
    assert isinstance(model, Model)
    assert model.platform == "recording"
    assert model.multi_inference([("s", "m")], [b"e"]) == [("multi", "s", "m", 1)]


def test_queued_requests_run_as_one_batch_and_each_gets_its_rows(
    scheduler: SharedBatchScheduler,
) -> None:
    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=8))
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1)}, 2: {"x": rows(2, 3)}, 3: {"x": rows(4, 5, 6)}})
    inner.gate.set()
    calls.join()

    assert inner.batch_sizes == [1, 6]
    assert not calls.errors
    np.testing.assert_array_equal(calls.results[1]["x_out"], rows(10))
    np.testing.assert_array_equal(calls.results[2]["x_out"], rows(20, 30))
    np.testing.assert_array_equal(calls.results[3]["x_out"], rows(40, 50, 60))


def test_batch_never_exceeds_max_batch_size(scheduler: SharedBatchScheduler) -> None:
    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=3))
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {i: {"x": rows(i, i)} for i in range(1, 4)})
    inner.gate.set()
    calls.join()
    assert inner.batch_sizes == [1, 2, 2, 2]


def test_batch_is_padded_with_first_row_of_last_task_and_padding_dropped(
    scheduler: SharedBatchScheduler,
) -> None:
    inner = RecordingModel()
    options = BatchingOptions(max_batch_size=8, allowed_batch_sizes=(2, 4, 8))
    model = BatchingModel(inner, scheduler, options)
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1)}, 2: {"x": rows(2, 3)}})
    inner.gate.set()
    calls.join()

    _, batch, _ = inner.calls[1]
    np.testing.assert_array_equal(batch["x"], rows(1, 2, 3, 2))
    np.testing.assert_array_equal(calls.results[2]["x_out"], rows(20, 30))
    assert inner.batch_sizes == [2, 4]  # the lone first request was padded to 2 too


def test_variable_length_inputs_are_padded_with_first_element(
    scheduler: SharedBatchScheduler,
) -> None:
    inner = RecordingModel()
    options = BatchingOptions(max_batch_size=8, pad_variable_length_inputs=True)
    model = BatchingModel(inner, scheduler, options)
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    short = np.array([[7, 8]], dtype=np.int32)
    long = np.array([[1, 2, 3]], dtype=np.int32)
    queue_requests(model, calls, {1: {"x": short}, 2: {"x": long}})
    inner.gate.set()
    calls.join()

    _, batch, _ = inner.calls[1]
    np.testing.assert_array_equal(batch["x"], [[7, 8, 7], [1, 2, 3]])
    np.testing.assert_array_equal(calls.results[1]["x_out"], [[70, 80, 70]])


def test_differing_shapes_without_padding_fail_the_batch(scheduler: SharedBatchScheduler) -> None:
    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=8))
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1, width=2)}, 2: {"x": rows(2, width=3)}})
    inner.gate.set()
    calls.join()

    for key in (1, 2):
        error = calls.errors[key]
        assert isinstance(error, FailedPrecondition)
        assert error.message == (
            "Tensors with name 'x' from different tasks have different shapes and padding "
            "is turned off. Set pad_variable_length_inputs to true, or ensure that all "
            "tensors with the same name have equal dimensions starting with the first dim."
        )


def test_request_larger_than_max_batch_size_is_invalid(scheduler: SharedBatchScheduler) -> None:
    model = BatchingModel(RecordingModel(), scheduler, BatchingOptions(max_batch_size=2))
    with pytest.raises(InvalidArgument) as caught:
        model.predict("serving_default", {"x": rows(1, 2, 3)})
    assert caught.value.message == "Task size 3 is larger than maximum input batch size 2"


def test_inputs_with_unequal_dim0_are_invalid(scheduler: SharedBatchScheduler) -> None:
    model = BatchingModel(RecordingModel(), scheduler, BatchingOptions())
    with pytest.raises(InvalidArgument) as caught:
        model.predict("serving_default", {"a": rows(1), "b": rows(1, 2)})
    assert caught.value.message == (
        "Batching Run() input tensors must have equal 0th-dimension size"
    )


def test_full_queue_is_unavailable(scheduler: SharedBatchScheduler) -> None:
    inner = RecordingModel()
    options = BatchingOptions(max_batch_size=1, max_enqueued_batches=2)
    model = BatchingModel(inner, scheduler, options)
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1)}, 2: {"x": rows(2)}})
    with pytest.raises(ServingError) as caught:
        model.predict("serving_default", {"x": rows(3)})
    assert caught.value.code is Code.UNAVAILABLE
    assert caught.value.message == (
        "The batch scheduling queue to which this task was submitted is full"
    )
    inner.gate.set()
    calls.join()
    assert not calls.errors


def test_deadline_passed_in_queue_is_resource_exhausted(scheduler: SharedBatchScheduler) -> None:
    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=8))
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1)}}, timeout_s=0.0)
    queue_requests(model, calls, {2: {"x": rows(2)}}, timeout_s=60.0)
    inner.gate.set()
    calls.join()

    assert calls.errors[1].code is Code.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert str(calls.errors[1]) == "Run() timeout exceeded while waiting in batching queue"
    np.testing.assert_array_equal(calls.results[2]["x_out"], rows(20))
    assert inner.batch_sizes == [1, 1]
    timeout = inner.timeouts[1]
    assert timeout is not None and 0 < timeout <= 60


def test_inner_error_fails_every_task_of_the_batch_only(scheduler: SharedBatchScheduler) -> None:
    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=8))
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1)}, 2: {"x": rows(2)}})
    inner.error = InvalidArgument("bad batch")
    inner.gate.set()
    calls.join()
    assert {str(calls.errors[k]) for k in (-1, 1, 2)} == {"bad batch"}

    inner.error = None
    result = model.predict("serving_default", {"x": rows(3)})
    np.testing.assert_array_equal(result["x_out"], rows(30))


def test_different_signatures_and_output_filters_never_share_a_batch(
    scheduler: SharedBatchScheduler,
) -> None:
    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=8))
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    inputs = {"x": rows(1), "z": rows(2)}
    calls.start(1, model.predict, "serving_default", inputs, ["x_out"])
    calls.start(2, model.predict, "serving_default", inputs, ["z_out"])
    calls.start(3, model.predict, "other", inputs, ["x_out"])
    calls.start(4, model.predict, "serving_default", inputs, ["x_out"])
    wait_until(lambda: model.num_enqueued_tasks == 4, 10, what="queued")
    inner.gate.set()
    calls.join()

    batches = sorted((sig, filt, b["x"].shape[0]) for sig, b, filt in inner.calls[1:])
    assert batches == [
        ("other", ("x_out",), 1),
        ("serving_default", ("x_out",), 2),
        ("serving_default", ("z_out",), 1),
    ]
    assert set(calls.results[2]) == {"z_out"}


def test_classify_and_regress_pass_through(scheduler: SharedBatchScheduler) -> None:
    model = BatchingModel(RecordingModel(), scheduler, BatchingOptions())
    assert model.classify("c", [b"a", b"b"]).scores.shape == (2, 1)  # type: ignore[union-attr]
    assert model.regress("r", [b"a"]).shape == (1, 1)


def test_concurrent_callers_each_get_their_own_rows() -> None:
    scheduler = SharedBatchScheduler(num_batch_threads=2)
    scheduler.start()
    try:
        inner = RecordingModel()
        model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=16))
        mismatches: list[str] = []

        def caller(worker: int) -> None:
            for i in range(40):
                value = worker * 1000 + i
                size = 1 + i % 3
                out = model.predict("serving_default", {"x": rows(*[value] * size)})
                if not np.array_equal(out["x_out"], rows(*[value * 10] * size)):
                    mismatches.append(f"{worker}/{i}")

        threads = [threading.Thread(target=caller, args=(w,)) for w in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not mismatches
        assert sum(inner.batch_sizes) == sum(1 + i % 3 for i in range(40)) * 16
    finally:
        scheduler.stop()


def test_close_lets_queued_tasks_finish_then_removes_queues(
    scheduler: SharedBatchScheduler,
) -> None:
    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=8))
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1)}})
    assert scheduler.num_queues == 1
    model.close()
    with pytest.raises(ServingError) as caught:
        model.predict("serving_default", {"x": rows(2)})
    assert caught.value.code is Code.UNAVAILABLE
    inner.gate.set()
    calls.join()
    np.testing.assert_array_equal(calls.results[1]["x_out"], rows(10))
    wait_until(lambda: scheduler.num_queues == 0, 10, what="queue removed")


class RecordingSink(NullBatchingMetrics):
    def __init__(self) -> None:
        self.enqueued: list[int] = []
        self.dequeued: list[str] = []
        self.runs: list[tuple[int, int]] = []

    def task_enqueued(self, size: int) -> None:
        self.enqueued.append(size)

    def task_dequeued(self, thread_pool_name: str, queued_seconds: float) -> None:
        assert queued_seconds >= 0
        self.dequeued.append(thread_pool_name)

    def batch_run(self, processed_size: int, padding_rows: int) -> None:
        self.runs.append((processed_size, padding_rows))


def test_metrics_sink_hears_sizes_padding_and_queueing(scheduler: SharedBatchScheduler) -> None:
    inner = RecordingModel()
    sink = RecordingSink()
    options = BatchingOptions(max_batch_size=4, allowed_batch_sizes=(1, 4))
    model = BatchingModel(inner, scheduler, options, metrics=sink)
    calls = ThreadResults()
    hold_slot(model, inner, calls)
    queue_requests(model, calls, {1: {"x": rows(1, 2)}})
    inner.gate.set()
    calls.join()
    assert sorted(sink.enqueued) == [1, 2]
    assert sink.runs == [(1, 0), (4, 2)]
    assert sink.dequeued == ["test_batch_threads"] * 2


def test_event_loop_callers_are_batched_without_a_thread_each(
    scheduler: SharedBatchScheduler,
) -> None:
    """Through the data plane's ModelRef, concurrent loop callers share batches and
    each gets its own rows, while no worker thread waits per request."""
    import asyncio

    from tensorserve.core.servable_id import ServableId
    from tensorserve.dataplane.dataplane import ModelRef
    from tensorserve.dataplane.observer import NullObserver

    inner = RecordingModel()
    model = BatchingModel(inner, scheduler, BatchingOptions(max_batch_size=8))

    class Handle:
        id = ServableId("m", 1)
        servable = model

        def close(self) -> None:
            pass

    async def main() -> list[dict[str, np.ndarray]]:
        inner.gate.clear()  # hold the first batch so the rest queue up behind it
        refs = [ModelRef(Handle(), None, NullObserver()) for _ in range(9)]  # type: ignore[arg-type]
        calls = [ref.predict("sig", {"x": rows(float(i))}) for i, ref in enumerate(refs)]
        tasks = [asyncio.ensure_future(c) for c in calls]
        while not inner.entered.is_set():
            await asyncio.sleep(0.001)
        # Only the scheduler's one batch thread runs model code; nothing else waits.
        assert not [t for t in threading.enumerate() if t.name.startswith("tensorserve-model")]
        inner.gate.set()
        return await asyncio.gather(*tasks)

    results = asyncio.run(main())
    for i, outputs in enumerate(results):
        np.testing.assert_array_equal(outputs["x_out"], rows(float(i)) * 10)
    assert sum(inner.batch_sizes) == 9
    assert max(inner.batch_sizes) > 1
