"""A condition variable that wakes the thread that went idle last.

``threading.Condition.notify`` wakes the thread that has waited longest. For a
pool of workers that is the worst choice: under a load that keeps two of eight
workers busy, every call lands on a different, cold thread (its stack and the
model's working set long gone from the core's caches), and the scheduler moves
calls across all eight. Waking the worker that went idle last keeps the busy
set as small as the load and warm, as Eigen's and Go's schedulers do; the other
workers sleep until the load needs them.

Measured on the 2-core target (ONNX Runtime serving the small MNIST CNN over
gRPC, 8 requests in flight, 8 workers): see ``docs/benchmarks.md``, "Model calls
on warm threads".
"""

from __future__ import annotations

import threading


class IdleWorkers:
    """Sleeping workers, newest on top. Every method is called with ``lock`` held,
    the one lock that guards the workers' shared state."""

    __slots__ = ("_lock", "_own", "_sleeping")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._sleeping: list[threading.Lock] = []
        self._own = threading.local()

    def wait(self) -> None:
        """Sleep until woken: ``lock`` is released meanwhile and held again on return.
        As with a condition variable, the caller checks again what it waits for."""
        wake = getattr(self._own, "wake", None)
        if wake is None:  # each thread's own, kept locked: releasing it wakes the thread
            wake = self._own.wake = threading.Lock()
            wake.acquire()
        self._sleeping.append(wake)
        self._lock.release()
        try:
            wake.acquire()
        finally:
            self._lock.acquire()

    def wake_one(self) -> None:
        """Wake the worker that went to sleep last, if one sleeps."""
        if self._sleeping:
            self._sleeping.pop().release()

    def wake_all(self) -> None:
        while self._sleeping:
            self._sleeping.pop().release()
