"""The handler threads of the threaded gRPC server: a pool that never holds up exit.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter
exits, so one handler stuck in a model call would keep a stopped server's process
alive past ``--shutdown_timeout_seconds``. :class:`HandlerPool` is the same
executor with daemon threads, like the data plane's model workers: started on
demand up to ``max_workers``, an idle one reused before a new one starts.
Thread-safe.

A streaming RPC holds its handler thread for as long as the stream lasts (a health
``Watch`` for the life of the client's channel). While such a handler waits for its
next message it is *parked* (:func:`parked`) and does not count against
``max_workers``, so open streams never starve unary calls of threads.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_Work = tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_current = threading.local()


@contextlib.contextmanager
def parked() -> Iterator[None]:
    """Mark this handler thread as waiting on a stream, not working, while inside.

    Outside a :class:`HandlerPool` thread it does nothing.
    """
    pool: HandlerPool | None = getattr(_current, "pool", None)
    if pool is None:
        yield
        return
    pool._park(1)
    try:
        yield
    finally:
        pool._park(-1)


class HandlerPool(concurrent.futures.Executor):
    """At most ``max_workers`` daemon threads running submitted calls in order."""

    def __init__(self, max_workers: int, *, name: str = "tensorserve-grpc") -> None:
        if max_workers < 1:
            raise ValueError("a HandlerPool needs at least one worker")
        self._max_workers = max_workers
        self._name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._parked = 0
        self._shutdown = False

    @property
    def threads(self) -> int:
        """Threads started so far."""
        return len(self._threads)

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a HandlerPool after shutdown")
            self._work.put((future, fn, args, kwargs))
            if self._idle.acquire(blocking=False):
                return future  # an idle thread will take it
            self._start_thread_if_under_cap()
        return future

    def _park(self, delta: int) -> None:
        with self._lock:
            self._parked += delta
            if delta > 0 and not self._work.empty() and not self._shutdown:
                self._start_thread_if_under_cap()  # the queued call this thread can't take

    def _start_thread_if_under_cap(self) -> None:
        """Start a thread when fewer than ``max_workers`` are unparked. Hold the lock."""
        if len(self._threads) - self._parked < self._max_workers:
            thread = threading.Thread(
                target=self._run, name=f"{self._name}_{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let queued calls run (or cancel them), then end every thread; ``wait``
        joins them."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        item = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            for _ in self._threads:
                self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _run(self) -> None:
        _current.pool = self
        while (item := self._work.get()) is not None:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
            del item, future  # drop references to the call before waiting again
            self._idle.release()
