"""A scheduler whose threads run batches from many queues, fairly.

One :class:`SharedBatchScheduler` per server owns ``num_batch_threads``
threads. Each (model version, signature) has a :class:`BatchQueue` in it: a
deque of batches whose last one is open for new tasks. A thread takes the
first *ready* batch it finds, scanning queues round-robin from where the last
take stopped, so a busy model cannot starve another. A batch is ready when a
newer batch exists behind it, when it is full, when its oldest task has waited
the queue's timeout, or when the queue is closed.

At most ``num_batch_threads`` batches run at once. When a slot is free, the
queue's timeout is 0 and nothing at all is queued, ``schedule`` runs the
one-task batch in the calling thread instead of waking a batch thread: at low
load batching then adds no thread hand-off (tens of microseconds). Under load
every slot is busy, tasks pile up in open batches, and that is where batching
pays.

All queue state is guarded by the scheduler's one condition variable; each
task is handed back through its own lock, so a submitting thread sleeps
without polling. Batches run outside the lock.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from tensorserve.batching.options import DEFAULT_THREAD_POOL_NAME, BatchingOptions
from tensorserve.core.errors import ServingError, Unavailable, as_answer
from tensorserve.core.thread_joins import join_all

QUEUE_FULL_MESSAGE = "The batch scheduling queue to which this task was submitted is full"
SCHEDULER_STOPPED_MESSAGE = "The batch scheduler is shutting down"
QUEUE_CLOSED_MESSAGE = "The batch scheduling queue to which this task was submitted is closed"


class BatchTask:
    """One request waiting in a queue: its inputs, size, deadline and result.

    ``wait`` is called by the submitting thread; ``finish``/``fail`` once, by a
    batch thread. The result is published through a pre-acquired lock, the
    cheapest one-shot signal CPython offers.
    """

    __slots__ = (
        "_done",
        "callback",
        "deadline",
        "enqueued_at",
        "error",
        "finished",
        "inputs",
        "outputs",
        "size",
    )

    def __init__(
        self,
        inputs: Mapping[str, np.ndarray],
        size: int,
        deadline: float | None,
        callback: Callable[[BatchTask], None] | None = None,
    ) -> None:
        self.inputs = inputs
        self.callback = callback
        """Called (on the batch thread) once the task finished or failed, for callers
        that do not block in ``wait``."""
        self.size = size
        self.deadline = deadline
        self.enqueued_at = time.monotonic()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: ServingError | None = None
        self.finished = False
        self._done = threading.Lock()
        self._done.acquire()

    def finish(self, outputs: dict[str, np.ndarray]) -> None:
        self.outputs = outputs
        self.finished = True
        self._done.release()
        if self.callback is not None:
            self.callback(self)

    def fail(self, error: ServingError) -> None:
        self.error = error
        self.finished = True
        self._done.release()
        if self.callback is not None:
            self.callback(self)

    def wait(self) -> dict[str, np.ndarray]:
        """Block until the task ran; return its outputs or raise its error."""
        self._done.acquire()
        if self.error is not None:
            raise self.error
        assert self.outputs is not None
        return self.outputs


BatchProcessor = Callable[[list[BatchTask]], None]


class _Batch:
    __slots__ = ("opened_at", "size", "tasks")

    def __init__(self, opened_at: float) -> None:
        self.tasks: list[BatchTask] = []
        self.size = 0
        self.opened_at = opened_at


class BatchQueue:
    """The queue of one (model version, signature); made by the scheduler.

    Thread-safe. ``process`` runs on a scheduler thread with the tasks of one
    batch and must finish or fail every one of them.
    """

    def __init__(
        self, scheduler: SharedBatchScheduler, options: BatchingOptions, process: BatchProcessor
    ) -> None:
        self._scheduler = scheduler
        self._cond = scheduler._cond
        self._max_batch_size = options.execution_batch_size
        self._max_enqueued_batches = options.max_enqueued_batches
        self._timeout_s = options.batch_timeout_s
        self._batches: collections.deque[_Batch] = collections.deque()
        self._closed = False
        self.process = process

    def schedule(self, task: BatchTask, *, may_run_here: bool = True) -> None:
        """Add ``task`` to the open batch; raise UNAVAILABLE when full or closed.

        With ``may_run_here`` it may instead run ``task`` alone in the calling
        thread (see the module docstring); an event loop passes False. The caller
        checked ``task.size <= max_batch_size``.
        """
        scheduler = self._scheduler
        with self._cond:
            if scheduler._stopping:
                raise Unavailable(SCHEDULER_STOPPED_MESSAGE)
            if self._closed:
                raise Unavailable(QUEUE_CLOSED_MESSAGE)
            run_here = (
                may_run_here
                and self._timeout_s == 0.0
                and scheduler._queued_batches == 0
                and scheduler._running < scheduler.num_batch_threads
                and scheduler._started
            )
            if run_here:
                scheduler._running += 1
            else:
                self._enqueue(task)
        if run_here:
            scheduler._run_one(self, [task])

    def _enqueue(self, task: BatchTask) -> None:
        """Put ``task`` in the open batch; lock held."""
        batches = self._batches
        tail = batches[-1] if batches else None
        if tail is None or tail.size + task.size > self._max_batch_size:
            if len(batches) >= self._max_enqueued_batches:
                raise Unavailable(QUEUE_FULL_MESSAGE)
            tail = _Batch(task.enqueued_at)
            batches.append(tail)
            self._scheduler._queued_batches += 1
        tail.tasks.append(task)
        tail.size += task.size
        # Wake a thread when a batch became ready, or when an open batch
        # started (a sleeping thread must learn its timeout).
        if len(tail.tasks) == 1 or tail.size >= self._max_batch_size or len(batches) > 1:
            self._cond.notify()

    def close(self) -> None:
        """Stop taking tasks; what is queued still runs, then the queue leaves
        the scheduler. Does not wait."""
        with self._cond:
            self._closed = True
            if not self._batches:
                self._scheduler._remove(self)
            self._cond.notify_all()

    @property
    def num_enqueued_tasks(self) -> int:
        with self._cond:
            return sum(len(b.tasks) for b in self._batches)

    def _ready_batch(self, now: float) -> tuple[_Batch | None, float | None]:
        """The head batch if ready (popped), else when it will be; lock held."""
        batches = self._batches
        if not batches:
            return None, None
        head = batches[0]
        due = head.opened_at + self._timeout_s
        if len(batches) > 1 or head.size >= self._max_batch_size or self._closed or now >= due:
            batches.popleft()
            self._scheduler._queued_batches -= 1
            return head, None
        return None, due


class SharedBatchScheduler:
    """Worker threads shared by every batch queue of the server.

    Thread-safe. ``start`` launches the threads; ``stop`` fails every queued
    task with UNAVAILABLE, lets running batches finish and joins the threads.
    """

    def __init__(
        self, num_batch_threads: int, thread_pool_name: str = DEFAULT_THREAD_POOL_NAME
    ) -> None:
        if num_batch_threads <= 0:
            raise ValueError("num_batch_threads must be positive")
        self.num_batch_threads = num_batch_threads
        self.thread_pool_name = thread_pool_name
        self._cond = threading.Condition(threading.Lock())
        self._queues: list[BatchQueue] = []
        self._cursor = 0
        self._stopping = False
        self._started = False
        self._running = 0  # batches running now, on batch threads or callers
        self._queued_batches = 0  # over all queues
        self._threads: list[threading.Thread] = []

    def add_queue(self, options: BatchingOptions, process: BatchProcessor) -> BatchQueue:
        """A new queue whose ready batches go to ``process``."""
        queue = BatchQueue(self, options, process)
        with self._cond:
            if self._stopping:
                raise Unavailable(SCHEDULER_STOPPED_MESSAGE)
            self._queues.append(queue)
        return queue

    @property
    def num_queues(self) -> int:
        with self._cond:
            return len(self._queues)

    def start(self) -> None:
        with self._cond:
            if self._started or self._stopping:
                raise RuntimeError("SharedBatchScheduler can only be started once")
            self._started = True
            self._threads = [
                threading.Thread(
                    target=self._run_batches, name=f"{self.thread_pool_name}-{i}", daemon=True
                )
                for i in range(self.num_batch_threads)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Fail queued tasks with UNAVAILABLE, wait for running batches, join threads;
        ``timeout_s`` seconds in all (None: as long as the batches take)."""
        with self._cond:
            self._stopping = True
            pending = [t for q in self._queues for b in q._batches for t in b.tasks]
            for queue in self._queues:
                queue._batches.clear()
            self._queues.clear()
            self._queued_batches = 0
            self._cond.notify_all()
        error = Unavailable(SCHEDULER_STOPPED_MESSAGE)
        for task in pending:
            task.fail(error)
        join_all([t for t in self._threads if t is not threading.current_thread()], timeout_s)

    def _remove(self, queue: BatchQueue) -> None:
        """Forget ``queue``; lock held."""
        if queue in self._queues:
            index = self._queues.index(queue)
            del self._queues[index]
            if self._cursor > index:
                self._cursor -= 1

    def _next_batch(self) -> tuple[BatchQueue, _Batch] | None:
        """Wait for a free slot and a ready batch, round-robin over queues;
        None when stopping. Takes the slot."""
        with self._cond:
            while not self._stopping:
                if self._running >= self.num_batch_threads or not self._queued_batches:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                queues = self._queues
                count = len(queues)
                earliest: float | None = None
                for offset in range(count):
                    index = (self._cursor + offset) % count
                    queue = queues[index]
                    batch, due = queue._ready_batch(now)
                    if batch is not None:
                        self._running += 1
                        self._cursor = (index + 1) % count
                        if queue._closed and not queue._batches:
                            self._remove(queue)
                        return queue, batch
                    if due is not None and (earliest is None or due < earliest):
                        earliest = due
                self._cond.wait(None if earliest is None else max(0.0, earliest - now))
            return None

    def _run_batches(self) -> None:
        while (picked := self._next_batch()) is not None:
            queue, batch = picked
            self._run_one(queue, batch.tasks)

    def _run_one(self, queue: BatchQueue, tasks: list[BatchTask]) -> None:
        """Process one batch in this thread, then give its slot back."""
        try:
            queue.process(tasks)
        except Exception as exc:  # a processor bug must not kill the thread
            error = as_answer(exc)
            for task in tasks:
                if not task.finished:
                    task.fail(error)
        finally:
            with self._cond:
                self._running -= 1
                if self._queued_batches:
                    self._cond.notify()
