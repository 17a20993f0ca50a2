"""A servable that batches another servable's predict calls.

``BatchingModel(inner, scheduler, options)`` is itself a :class:`Model`: the
platform loader wraps the model it loaded and calls :meth:`BatchingModel.close`
on unload. ``predict`` puts the request in the queue of its (signature, input
names and dtypes, output filter) and blocks until a scheduler thread has run
the batch holding it, so requests that could not share one inner call never
share a batch. ``classify`` and ``regress`` pass through unbatched: they take
serialized examples, which TensorFlow Serving batches only inside the graph.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tensorserve.batching.metrics_sink import BatchingMetricsSink, NullBatchingMetrics
from tensorserve.batching.options import BatchingOptions
from tensorserve.batching.scheduler import (
    QUEUE_CLOSED_MESSAGE,
    BatchQueue,
    BatchTask,
    SharedBatchScheduler,
)
from tensorserve.batching.tensor_batch import merge_inputs, split_outputs, task_batch_size
from tensorserve.core.errors import (
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    as_answer,
)
from tensorserve.servables.model import ExampleApisOfInner, Model
from tensorserve.servables.signature import Signature

TIMEOUT_IN_QUEUE_MESSAGE = "Run() timeout exceeded while waiting in batching queue"

# (signature name, ((input name, dtype or string kind), ...), sorted output filter)
QueueKey = tuple[str, tuple[tuple[str, Any], ...], tuple[str, ...]]


def _dtype_key(array: np.ndarray) -> Any:
    # Strings of different widths concatenate losslessly; numbers must match
    # exactly, or one request's dtype would silently change another's.
    kind = array.dtype.kind
    return kind if kind in "SUO" else array.dtype


class BatchingModel(ExampleApisOfInner):
    """Batches ``predict`` of ``inner`` through a shared scheduler.

    Thread-safe. Queues are made on first use of a key and closed by
    :meth:`close`. An error of the inner model fails every task of its batch.
    """

    def __init__(
        self,
        inner: Model,
        scheduler: SharedBatchScheduler,
        options: BatchingOptions,
        metrics: BatchingMetricsSink | None = None,
    ) -> None:
        self.inner = inner
        self._scheduler = scheduler
        self._options = options
        self._metrics: BatchingMetricsSink = metrics or NullBatchingMetrics()
        self._queues: dict[QueueKey, BatchQueue] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def options(self) -> BatchingOptions:
        return self._options

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self.inner.signatures

    @property
    def num_enqueued_tasks(self) -> int:
        """Tasks waiting in this model's queues now (for tests and debugging)."""
        return sum(queue.num_enqueued_tasks for queue in self._queues.values())

    @property
    def platform(self) -> str:
        return self.inner.platform

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run ``inputs`` as part of a batch; blocks until that batch ran.

        Raises INVALID_ARGUMENT for inputs of unequal dim 0 or more rows than
        ``execution_batch_size``, UNAVAILABLE when the queue is full, and
        RESOURCE_EXHAUSTED when ``timeout_s`` passed while queued.
        """
        task = self._schedule(signature_name, inputs, output_filter, timeout_s, None)
        return task.wait()

    def submit_predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str],
        timeout_s: float | None,
        callback: Callable[[BatchTask], None],
    ) -> None:
        """Queue ``inputs`` without blocking; ``callback(task)`` runs on the batch
        thread when it is done (``task.outputs`` or ``task.error``).

        For an event loop: it never runs the model in the calling thread, so no
        worker thread has to sit blocked per request. Raises as ``predict`` does
        for requests refused before queueing.
        """
        self._schedule(signature_name, inputs, output_filter, timeout_s, callback)

    def _schedule(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str],
        timeout_s: float | None,
        callback: Callable[[BatchTask], None] | None,
    ) -> BatchTask:
        size = task_batch_size(inputs)
        if size > self._options.execution_batch_size:
            raise InvalidArgument(
                f"Task size {size} is larger than maximum input batch size "
                f"{self._options.execution_batch_size}"
            )
        key: QueueKey = (
            signature_name,
            tuple(sorted((name, _dtype_key(array)) for name, array in inputs.items())),
            tuple(sorted(set(output_filter))),
        )
        queue = self._queues.get(key) or self._add_queue(key)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        task = BatchTask(inputs, size, deadline, callback)
        queue.schedule(task, may_run_here=callback is None)
        self._metrics.task_enqueued(size)
        return task

    def close(self) -> None:
        """Close every queue: queued tasks still run; new predicts fail UNAVAILABLE."""
        with self._lock:
            self._closed = True
            queues = list(self._queues.values())
            self._queues = {}
        for queue in queues:
            queue.close()

    def _add_queue(self, key: QueueKey) -> BatchQueue:
        with self._lock:
            if self._closed:
                raise Unavailable(QUEUE_CLOSED_MESSAGE)
            queue = self._queues.get(key)
            if queue is None:
                signature_name, _, output_filter = key

                def process(tasks: list[BatchTask]) -> None:
                    self._run_batch(signature_name, output_filter, tasks)

                queue = self._scheduler.add_queue(self._options, process)
                # Replace the map whole so readers on the fast path need no lock.
                self._queues = {**self._queues, key: queue}
            return queue

    def _run_batch(
        self, signature_name: str, output_filter: tuple[str, ...], tasks: list[BatchTask]
    ) -> None:
        """Run one batch on a scheduler thread; finishes or fails every task."""
        now = time.monotonic()
        pool_name = self._scheduler.thread_pool_name
        live: list[BatchTask] = []
        for task in tasks:
            self._metrics.task_dequeued(pool_name, now - task.enqueued_at)
            if task.deadline is not None and task.deadline <= now:
                task.fail(ResourceExhausted(TIMEOUT_IN_QUEUE_MESSAGE))
            else:
                live.append(task)
        if not live:
            return
        sizes = [task.size for task in live]
        total = sum(sizes)
        padding = self._options.padded_size(total) - total
        deadlines = [task.deadline for task in live]
        # The platform rounds it: it keeps a fast path per distinct timeout value.
        timeout_s = None if None in deadlines else max(d for d in deadlines if d is not None) - now
        try:
            merged = merge_inputs(
                [task.inputs for task in live], padding, self._options.pad_variable_length_inputs
            )
            self._metrics.batch_run(total + padding, padding)
            outputs = self.inner.predict(signature_name, merged, output_filter, timeout_s)
            per_task = split_outputs(outputs, sizes, padding)
        except Exception as exc:
            error = as_answer(exc)
            for task in live:
                task.fail(error)
            return
        for task, task_outputs in zip(live, per_task, strict=True):
            task.finish(task_outputs)
