"""IdleWorkers wakes the worker that went idle last, so a light load stays on warm threads."""

from __future__ import annotations

import threading

from tensorserve.dataplane.idle_workers import IdleWorkers
from tests.support.waiting import wait_until


def test_the_worker_that_went_idle_last_is_woken_first() -> None:
    lock = threading.Lock()
    idle = IdleWorkers(lock)
    woken: list[int] = []
    asleep = [0]

    def worker(number: int) -> None:
        with lock:
            asleep[0] += 1
            idle.wait()
            woken.append(number)

    threads = []
    for number in range(3):  # each goes to sleep before the next starts
        thread = threading.Thread(target=worker, args=(number,), daemon=True)
        thread.start()
        threads.append(thread)
        wait_until(lambda n=number: _sleeping(lock, asleep, n + 1), timeout=5, what="sleep")

    with lock:
        idle.wake_one()
    wait_until(lambda: woken == [2], timeout=5, what="the newest sleeper to wake")
    with lock:
        idle.wake_all()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(woken) == [0, 1, 2] and woken[0] == 2


def test_one_thread_sleeps_and_wakes_again_and_again() -> None:
    # A thread keeps one wake-up lock for all its sleeps.
    lock = threading.Lock()
    idle = IdleWorkers(lock)
    for _ in range(3):  # the same thread's own lock, used again and again
        done = threading.Event()

        def sleeper(done: threading.Event = done) -> None:
            with lock:
                idle.wait()
            done.set()

        with lock:
            thread = threading.Thread(target=sleeper, daemon=True)
            thread.start()
        wait_until(lambda: _sleeping_count(lock, idle) == 1, timeout=5, what="sleep")
        with lock:
            idle.wake_one()
        assert done.wait(5)
        thread.join(timeout=5)


def test_waking_nobody_is_harmless() -> None:
    lock = threading.Lock()
    idle = IdleWorkers(lock)
    with lock:
        idle.wake_one()
        idle.wake_all()


def _sleeping(lock: threading.Lock, asleep: list[int], expected: int) -> bool:
    with lock:  # a sleeper has let go of the lock: its count and its wait are both in
        return asleep[0] == expected


def _sleeping_count(lock: threading.Lock, idle: IdleWorkers) -> int:
    with lock:
        return len(idle._sleeping)
