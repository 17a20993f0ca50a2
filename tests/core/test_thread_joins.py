"""join_all waits for several threads within one timeout, not one timeout each."""

from __future__ import annotations

import threading
import time

from tensorserve.core.thread_joins import join_all


def test_hung_threads_share_one_timeout() -> None:
    gate = threading.Event()
    threads = [threading.Thread(target=gate.wait, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        started = time.monotonic()
        assert not join_all(threads, 0.2)
        assert time.monotonic() - started < 0.6  # one 0.2 s wait, not four
    finally:
        gate.set()
    assert join_all(threads, None)


def test_threads_that_end_are_joined() -> None:
    threads = [threading.Thread(target=time.sleep, args=(0.01,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert join_all(threads, 5)
    assert not any(thread.is_alive() for thread in threads)
