"""HandlerPool: ThreadPoolExecutor's contract on daemon threads, so a handler stuck in
a model call never keeps a stopped server's process from exiting."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from tensorserve.grpc.handler_pool import HandlerPool, parked


def test_calls_run_on_daemon_threads_and_answer_through_futures() -> None:
    pool = HandlerPool(2)
    try:
        assert pool.submit(pow, 2, 10).result(10) == 1024
        assert pool.submit(threading.current_thread).result(10).daemon
        with pytest.raises(ZeroDivisionError):
            pool.submit(divmod, 1, 0).result(10)
    finally:
        pool.shutdown()


def test_an_idle_thread_is_reused_and_busy_ones_grow_the_pool_to_its_cap() -> None:
    pool = HandlerPool(2)
    release = threading.Event()
    try:
        for _ in range(5):
            pool.submit(int).result(10)
        assert pool.threads == 1  # one thread, reused while idle
        blocked = [pool.submit(release.wait, 10) for _ in range(3)]
        assert pool.threads == 2  # capped: the third call queues
        release.set()
        assert all(future.result(10) for future in blocked)
    finally:
        release.set()
        pool.shutdown()


def test_shutdown_refuses_new_calls_and_can_cancel_queued_ones() -> None:
    pool = HandlerPool(1)
    release = threading.Event()
    running = pool.submit(release.wait, 10)
    queued = pool.submit(int)
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(int)
    release.set()
    assert running.result(10)


def test_a_stuck_call_does_not_keep_the_process_alive() -> None:
    script = textwrap.dedent(
        """
        import threading
        from tensorserve.grpc.handler_pool import HandlerPool, parked

        pool = HandlerPool(1)
        started = threading.Event()
        pool.submit(lambda: (started.set(), threading.Event().wait()))
        started.wait(10)
        print("exiting", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "exiting")


def test_a_parked_thread_does_not_count_against_the_cap() -> None:
    """A streaming handler waiting for its next message is parked: with every worker
    slot held by streams, a new call still gets a thread."""
    pool = HandlerPool(1)
    streaming = threading.Event()
    release = threading.Event()

    def stream() -> bool:
        with parked():
            streaming.set()
            return release.wait(10)

    try:
        first = pool.submit(stream)
        assert streaming.wait(10)
        assert pool.submit(pow, 3, 2).result(10) == 9  # not queued behind the stream
        assert pool.threads == 2
        release.set()
        assert first.result(10)
    finally:
        release.set()
        pool.shutdown()


def test_parking_with_calls_queued_starts_a_thread_for_them() -> None:
    pool = HandlerPool(1)
    park = threading.Event()
    release = threading.Event()

    def busy_then_parked() -> bool:
        park.wait(10)
        with parked():
            return release.wait(10)

    try:
        first = pool.submit(busy_then_parked)
        queued = pool.submit(pow, 2, 5)  # waits: the only slot is busy
        assert not queued.done()
        park.set()
        assert queued.result(10) == 32
        release.set()
        assert first.result(10)
    finally:
        park.set()
        release.set()
        pool.shutdown()


def test_parked_outside_a_pool_thread_does_nothing() -> None:
    with parked():
        pass
