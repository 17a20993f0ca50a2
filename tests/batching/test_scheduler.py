"""Tests of SharedBatchScheduler: readiness, fairness between queues, and clean stops."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tensorserve.batching import BatchingOptions, BatchTask, SharedBatchScheduler
from tensorserve.batching.options import DEFAULT_THREAD_POOL_NAME
from tensorserve.core.errors import Code, ServingError
from tests.batching.fake_models import WAIT_S, ThreadResults
from tests.support.waiting import wait_until


class Recorder:
    """Batch processors that log (queue label, task sizes) and can block on a gate."""

    def __init__(self) -> None:
        self.order: list[tuple[str, list[int]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def processor(self, label: str):  # type: ignore[no-untyped-def]
        def process(tasks: list[BatchTask]) -> None:
            self.order.append((label, [t.size for t in tasks]))
            self.entered.set()
            assert self.gate.wait(WAIT_S)
            for task in tasks:
                task.finish({"n": np.zeros(task.size)})

        return process


def task(size: int = 1) -> BatchTask:
    return BatchTask({"x": np.zeros((size, 1))}, size, None)


def submit_and_wait(queue, size: int = 1):  # type: ignore[no-untyped-def]
    t = task(size)
    queue.schedule(t)
    return t.wait()


def started_scheduler(
    threads: int = 1, name: str = DEFAULT_THREAD_POOL_NAME
) -> tuple[SharedBatchScheduler, Recorder]:
    """A started scheduler of ``threads`` named ``name``, and a recorder for its queues."""
    scheduler = SharedBatchScheduler(threads, thread_pool_name=name)
    scheduler.start()
    return scheduler, Recorder()


def scheduler_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{name}-")]


def test_tasks_of_two_queues_are_served_round_robin() -> None:
    scheduler, recorder = started_scheduler(name="fair")
    options = BatchingOptions(max_batch_size=1, max_enqueued_batches=100)
    queue_a = scheduler.add_queue(options, recorder.processor("a"))
    queue_b = scheduler.add_queue(options, recorder.processor("b"))
    calls = ThreadResults()
    recorder.gate.clear()
    calls.start(0, submit_and_wait, queue_a)
    assert recorder.entered.wait(WAIT_S)
    for i in range(1, 6):
        calls.start(i, submit_and_wait, queue_a)
    wait_until(lambda: queue_a.num_enqueued_tasks == 5, WAIT_S)
    for i in range(6, 9):
        calls.start(i, submit_and_wait, queue_b)
    wait_until(lambda: queue_b.num_enqueued_tasks == 3, WAIT_S)
    recorder.gate.set()
    calls.join()
    scheduler.stop()

    labels = "".join(label for label, _ in recorder.order)
    assert labels == "aabababaa"
    assert not calls.errors


def test_open_batch_waits_for_timeout_unless_full() -> None:
    scheduler, recorder = started_scheduler()
    options = BatchingOptions(max_batch_size=3, batch_timeout_micros=50_000)
    queue = scheduler.add_queue(options, recorder.processor("q"))
    # A timeout no test run outlasts: only filling the batch can send it off. (With
    # 50 ms here, a caller thread starting late on a loaded machine found the batch
    # already sent on its timeout, and ran in a batch of its own.)
    never = BatchingOptions(max_batch_size=3, batch_timeout_micros=3_600_000_000)
    full = scheduler.add_queue(never, recorder.processor("full"))
    try:
        started = time.monotonic()
        submit_and_wait(queue)
        assert time.monotonic() - started >= 0.05

        calls = ThreadResults()
        for i in range(3):
            calls.start(i, submit_and_wait, full)
        calls.join()
        assert recorder.order[-1] == ("full", [1, 1, 1])
    finally:
        scheduler.stop()


def test_full_queue_rejects_the_task_with_unavailable() -> None:
    scheduler, recorder = started_scheduler()
    queue = scheduler.add_queue(
        BatchingOptions(max_batch_size=2, max_enqueued_batches=1), recorder.processor("q")
    )
    calls = ThreadResults()
    recorder.gate.clear()
    calls.start(0, submit_and_wait, queue)
    assert recorder.entered.wait(WAIT_S)
    queue.schedule(task(2))
    with pytest.raises(ServingError) as caught:
        queue.schedule(task(1))
    assert caught.value.code is Code.UNAVAILABLE
    recorder.gate.set()
    calls.join()
    scheduler.stop()


def test_stop_fails_queued_tasks_and_joins_every_thread() -> None:
    scheduler, recorder = started_scheduler(3, "stopper")
    assert len(scheduler_threads("stopper")) == 3
    queue = scheduler.add_queue(BatchingOptions(max_batch_size=1), recorder.processor("q"))
    calls = ThreadResults()
    recorder.gate.clear()
    for i in range(3):  # all three slots busy
        calls.start(i, submit_and_wait, queue)
    wait_until(lambda: len(recorder.order) == 3, WAIT_S)
    for i in range(3, 6):
        calls.start(i, submit_and_wait, queue)
    wait_until(lambda: queue.num_enqueued_tasks == 3, WAIT_S)

    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    wait_until(lambda: len(calls.errors) == 3, WAIT_S, what="queued tasks failed")
    recorder.gate.set()  # running batches finish normally
    stopper.join(WAIT_S)
    calls.join()

    assert sorted(calls.results) == [0, 1, 2]
    assert {e.code for e in calls.errors.values()} == {Code.UNAVAILABLE}  # type: ignore[attr-defined]
    assert scheduler_threads("stopper") == []
    with pytest.raises(ServingError):
        queue.schedule(task())


def test_processor_exception_fails_its_tasks_and_keeps_the_thread() -> None:
    scheduler = SharedBatchScheduler(1, thread_pool_name="survivor")
    scheduler.start()

    def broken(tasks: list[BatchTask]) -> None:
        raise RuntimeError("boom")

    queue = scheduler.add_queue(BatchingOptions(), broken)
    with pytest.raises(ServingError) as caught:
        submit_and_wait(queue)
    assert caught.value.code is Code.UNKNOWN
    assert len(scheduler_threads("survivor")) == 1
    scheduler.stop()


def test_closed_empty_queue_leaves_the_scheduler() -> None:
    scheduler = SharedBatchScheduler(1)
    queue = scheduler.add_queue(BatchingOptions(), Recorder().processor("q"))
    assert scheduler.num_queues == 1
    queue.close()
    assert scheduler.num_queues == 0
    with pytest.raises(ServingError):
        queue.schedule(task())


def test_stop_leaves_hung_batches_within_its_timeout() -> None:
    # Batches hanging in their model must not hold the server's shutdown past its
    # timeout: one timeout in all, and the hung threads (daemons) are left running.
    scheduler, recorder = started_scheduler(3, "hung-batches")
    # A timeout, so batches run on the scheduler's threads, not inline in the callers.
    options = BatchingOptions(max_batch_size=1, batch_timeout_micros=1000)
    queue = scheduler.add_queue(options, recorder.processor("q"))
    calls = ThreadResults()
    recorder.gate.clear()
    try:
        for i in range(3):
            calls.start(i, submit_and_wait, queue)
        wait_until(lambda: len(recorder.order) == 3, WAIT_S)
        started = time.monotonic()
        scheduler.stop(timeout_s=0.2)
        assert time.monotonic() - started < 0.5  # not 3 x 0.2 s, nor forever
        assert len(scheduler_threads("hung-batches")) == 3
    finally:
        recorder.gate.set()
    calls.join()
    wait_until(lambda: scheduler_threads("hung-batches") == [], WAIT_S)
