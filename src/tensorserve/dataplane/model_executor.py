"""Runs model calls on worker threads, with hand-overs amortised across calls.

``loop.run_in_executor`` pays a queue put, a thread wake-up and a loop wake-up
for *every* call; for a small model that is more than the model's own work.
``ModelExecutor`` instead:

* collects the calls made during one event-loop iteration and hands them over
  in one step, waking one worker;
* lets that worker run quick calls one after another, and wake a sibling for
  the calls left only when the call it takes is slow (most recent calls of that
  callable, such as one model's ``predict``, above ``_PARALLEL_S``), so slow
  calls still run in parallel on every worker while quick ones do not pay a
  wake-up and a GIL hand-off each; a callable not seen yet counts as slow;
* has each worker return the results of quick calls together, with one
  ``call_soon_threadsafe`` when the queue runs empty (or after 16 calls); a call
  slower than half a millisecond is answered at once;
* wakes the worker that went idle last (``IdleWorkers``), not the one idle longest,
  so a light load stays on a few warm threads;
* runs at most a lane's limit of calls of that lane at once (a model whose calls
  compute on their own thread: ONNX Runtime); the rest wait aside, holding no
  worker, and the worker that ends one of the lane's calls takes the next.

Measured on the 2-core target with a tiny numpy call at 8 concurrent callers:
36k calls/s with ``run_in_executor`` on an 8-thread pool, 68k with a batched
hand-over. Serving half_plus_two over REST at 8 connections, waking a sibling
for every queued call cost 130 µs of worker CPU per request; running quick
calls serially cut the server's CPU per request from 370 to 196 µs and raised
throughput from 2,950 to 5,140 requests/s.

``submit`` is called from the event loop; ``shutdown`` from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from tensorserve.core.released_frames import release_frames
from tensorserve.core.thread_joins import join_all
from tensorserve.dataplane.idle_workers import IdleWorkers
from tensorserve.dataplane.running_averages import RunningAverages

T = TypeVar("T")

_HOLD_S = 0.0005
_HOLD_CALLS = 16
_PARALLEL_S = 0.0002
"""Typical call time above which queued calls are spread over the workers: a wake-up
and GIL hand-off cost tens of microseconds, so below this one worker is faster."""
_SLOW_WEIGHT = 0.1

Lane = tuple[Hashable, int]
"""Calls that should not run more than so many at once: a key (one model, say) and
the limit. A runtime that computes on the calling thread (ONNX Runtime with one
intra-op thread) gains nothing from more calls at once than cores: they only take
turns on the cores, each turn's caches lost to the others. Measured: see
``docs/benchmarks.md``, "Model calls on warm threads"."""
Timed = Callable[[float], None]
"""Told the seconds a call ran (on its worker, not counting its wait for one)."""
_Call = tuple[
    "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...], "Lane | None", "Timed | None"
]
_Result = tuple["asyncio.Future[Any]", Any, "BaseException | None"]


class ModelExecutor:
    """A fixed pool of worker threads for blocking model work. Thread-safe."""

    def __init__(self, workers: int, *, name: str = "tensorserve-model") -> None:
        if workers < 1:
            raise ValueError("a ModelExecutor needs at least one worker")
        self._lock = threading.Lock()
        self._idle = IdleWorkers(self._lock)
        self._calls: collections.deque[_Call] = collections.deque()
        self._stopping = False
        self._pending: list[_Call] = []
        self._flush_scheduled = False
        # By id of the callable's owner (a model) or of the callable: a running share
        # of its calls slower than _PARALLEL_S. "Slow" means most calls are, so the
        # GIL waits that stretch some quick calls to milliseconds do not count. Unlocked:
        # a lost update only steers one wake-up.
        self._slow_share = RunningAverages(up=_SLOW_WEIGHT, down=_SLOW_WEIGHT)
        self._admitted: dict[Hashable, int] = {}  # calls of each lane queued or running
        self._waiting: dict[Hashable, collections.deque[_Call]] = {}  # the rest, per lane
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(workers)
        ]
        self._started = False

    @property
    def workers(self) -> int:
        return len(self._threads)

    def submit(
        self,
        fn: Callable[..., T],
        *args: Any,
        lane: Lane | None = None,
        timed: Timed | None = None,
    ) -> asyncio.Future[T]:
        """Schedule ``fn(*args)`` on a worker; the future completes on this loop.

        ``lane`` (a key and a limit) keeps at most that many calls of the lane running
        at once; the others wait their turn without holding a worker. ``timed`` is
        told how long the call ran, on its worker, when it returned."""
        loop = asyncio.get_running_loop()
        if not self._started:
            self._start()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((future, fn, args, lane, timed))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def withdraw(self, future: asyncio.Future[Any]) -> bool:
        """Take back a call that has not started, cancelling its future: True if it was
        still waiting (it will never run), False if it runs or ran. For a caller that
        gave up (deadline, client gone): under overload, the calls of requests nobody
        waits for any more would otherwise still run, ahead of live ones. Call from the
        event loop."""
        for index, call in enumerate(self._pending):
            if call[0] is future:
                del self._pending[index]
                future.cancel()
                return True
        with self._lock:
            for index, call in enumerate(self._calls):
                if call[0] is future:
                    del self._calls[index]
                    if call[3] is not None:
                        self._leave(call[3])  # its place in the lane goes to the next
                        if self._calls:
                            self._idle.wake_one()
                    future.cancel()
                    return True
            for key, waiting in self._waiting.items():
                for index, call in enumerate(waiting):
                    if call[0] is future:
                        del waiting[index]
                        if not waiting:
                            del self._waiting[key]
                        future.cancel()
                        return True
        return False

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for thread in self._threads:
            thread.start()

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        with self._lock:
            if self._admit(pending):
                self._idle.wake_one()

    def _work(self) -> None:
        results: list[_Result] = []
        finished: Lane | None = None  # the lane of the call this worker ran last
        while True:
            with self._lock:
                if finished is not None:
                    self._leave(finished)
                    finished = None
                if self._calls:
                    taken = self._calls.popleft()
                    call: _Call | None = taken
                    key = _owner_key(taken[1])
                    share = self._slow_share.get(key)  # None: not seen yet, so slow
                    if self._calls and (share is None or share > 0.5):
                        self._idle.wake_one()  # the rest would wait: let a sibling take it
                elif results:
                    call = None  # nothing queued: hand back what we have first
                elif self._stopping:
                    return
                else:
                    self._idle.wait()
                    continue
            if call is None:
                self._deliver(results)
                results = []
                continue
            del taken  # with call, the last one left, so an idle worker holds no tensors
            finished = call[3]
            if call[0].cancelled():
                call = None
                continue
            started = time.perf_counter()
            value, error = _outcome(call[1], call[2])
            elapsed = time.perf_counter() - started
            results.append((call[0], value, error))
            timed = call[4] if error is None else None
            call = value = error = None
            self._slow_share.add(key, 1.0 if elapsed > _PARALLEL_S else 0.0)
            if timed is not None:
                timed(elapsed)
                timed = None
            # Hold results back only while calls are quick, so batching them never
            # delays an answer by more than a fraction of a millisecond.
            if elapsed > _HOLD_S or len(results) >= _HOLD_CALLS:
                self._deliver(results)
                results = []

    def _admit(self, calls: list[_Call]) -> bool:
        """Queue ``calls`` to run (lock held), except those of a lane that has its limit
        queued or running already: they wait aside, holding no worker, until one of
        their lane ends. So every queued call can run. True if any was queued."""
        queued = False
        for call in calls:
            lane = call[3]
            if lane is not None:
                admitted = self._admitted.get(lane[0], 0)
                if admitted >= lane[1]:
                    self._waiting.setdefault(lane[0], collections.deque()).append(call)
                    continue
                self._admitted[lane[0]] = admitted + 1
            self._calls.append(call)
            queued = True
        return queued

    def _leave(self, lane: Lane) -> None:
        """A call of ``lane`` ended (lock held): the lane's next call takes its place, at
        the head of the queue, for the worker that ran this one."""
        key = lane[0]
        waiting = self._waiting.get(key)
        if waiting:
            self._calls.appendleft(waiting.popleft())
            if not waiting:
                del self._waiting[key]
        elif self._admitted[key] > 1:
            self._admitted[key] -= 1
        else:
            del self._admitted[key]

    def _deliver(self, results: list[_Result]) -> None:
        # Each future completes on its own loop (one, in a server; tests may use several).
        by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
        for result in results:
            by_loop.setdefault(result[0].get_loop(), []).append(result)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # that loop closed while we worked; nobody is waiting
                pass

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Let queued calls finish, then stop every worker, waiting ``timeout`` seconds
        in all (None: as long as they take). A worker still in a model call then (one
        that hangs) is left running: the threads are daemons, so the process may exit."""
        with self._lock:
            self._admit(self._pending)
            self._pending = []
            self._stopping = True
            self._idle.wake_all()
        if self._started:
            join_all(self._threads, timeout)


def _owner_key(fn: Callable[..., Any]) -> int:
    """Calls are timed per model: the owner of a bound method, else the callable."""
    return id(getattr(fn, "__self__", fn))


def _outcome(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, BaseException | None]:
    """``fn(*args)`` as (value, None), or (None, the exception it raised).

    What an exception keeps alive matters: the frames of its traceback hold the request's
    tensors, and each finished frame holds its caller's frame (``f_back``) with that
    frame's locals. So this frame holds no future (which would carry the exception back to
    itself, a cycle), the traceback starts below it, and the finished frames there are
    cleared.
    """
    try:
        return fn(*args), None
    except BaseException as exc:  # delivered to the caller, never swallowed
        if exc.__traceback__ is not None:  # no local for it: that would be a cycle too
            exc.__traceback__ = exc.__traceback__.tb_next
        release_frames(exc)
        return None, exc


def _settle(results: list[_Result]) -> None:
    for future, value, error in results:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
