"""ModelExecutor runs calls off the loop, in parallel when they are slow, and never loses one."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator

import pytest

from tensorserve.dataplane.idle_workers import IdleWorkers
from tensorserve.dataplane.model_executor import ModelExecutor
from tests.support.waiting import wait_until

_16_KIB = b"x" * 16384


@pytest.fixture
def executor() -> Iterator[ModelExecutor]:
    pool = ModelExecutor(4, name="test-model")
    yield pool
    pool.shutdown(timeout=10)


def test_results_and_errors_come_back_to_their_callers(executor: ModelExecutor) -> None:
    def work(i: int) -> int:
        if i % 7 == 0:
            raise ValueError(f"bad {i}")
        return i * i

    async def main() -> list[object]:
        futures = [executor.submit(work, i) for i in range(200)]
        return await asyncio.gather(*futures, return_exceptions=True)

    results = asyncio.run(main())
    for i, result in enumerate(results):
        if i % 7 == 0:
            assert isinstance(result, ValueError) and str(result) == f"bad {i}"
        else:
            assert result == i * i


def test_calls_never_run_on_the_event_loop_thread(executor: ModelExecutor) -> None:
    async def main() -> tuple[int, set[int]]:
        threads = await asyncio.gather(*(executor.submit(threading.get_ident) for _ in range(50)))
        return threading.get_ident(), set(threads)

    loop_thread, worker_threads = asyncio.run(main())
    assert loop_thread not in worker_threads


def test_slow_calls_submitted_together_run_in_parallel(executor: ModelExecutor) -> None:
    barrier = threading.Barrier(4, timeout=10)

    def meet() -> bool:
        barrier.wait()  # only returns once four calls run at the same time
        return True

    async def main() -> list[bool]:
        return await asyncio.gather(*(executor.submit(meet) for _ in range(4)))

    assert asyncio.run(main()) == [True] * 4


def test_a_slow_call_is_answered_without_waiting_for_the_queue(executor: ModelExecutor) -> None:
    release = threading.Event()

    async def main() -> float:
        blocker = executor.submit(release.wait, 10)
        quick = executor.submit(time.sleep, 0.01)
        start = time.monotonic()
        await quick
        elapsed = time.monotonic() - start
        release.set()
        await blocker
        return elapsed

    assert asyncio.run(main()) < 5


def test_cancelled_calls_are_skipped_and_shutdown_stops_the_threads() -> None:
    pool = ModelExecutor(2, name="test-stop")
    ran: list[int] = []

    async def main() -> None:
        first = pool.submit(ran.append, 1)
        second = pool.submit(ran.append, 2)
        second.cancel()
        await first

    asyncio.run(main())
    pool.shutdown(timeout=10)
    assert ran == [1]
    assert not [t for t in threading.enumerate() if t.name.startswith("test-stop")]


def test_one_executor_serves_event_loops_one_after_another(executor: ModelExecutor) -> None:
    async def main(value: int) -> int:
        return await executor.submit(abs, value)

    assert asyncio.run(main(-1)) == 1
    assert asyncio.run(main(-2)) == 2  # a fresh loop: results must not go to the closed one


class _CountingIdleWorkers(IdleWorkers):
    def __init__(self, lock: threading.Lock) -> None:
        super().__init__(lock)
        self.notified = 0

    def wake_one(self) -> None:
        self.notified += 1
        super().wake_one()


def test_quick_calls_wake_no_sibling_worker() -> None:
    # Waking a worker per call costs more than a quick call; slow calls are tested above.
    pool = ModelExecutor(8, name="test-quick")
    wakes = pool._idle = _CountingIdleWorkers(pool._lock)  # observe the wake-ups asked for

    def quick() -> int:
        hashlib.sha256(_16_KIB)  # tens of µs with the GIL released, as a model call runs
        return threading.get_ident()

    async def burst() -> set[int]:
        return set(await asyncio.gather(*(pool.submit(quick) for _ in range(64))))

    async def main() -> int:
        # Teach the pool that ``quick`` is quick with calls made one at a time: taught by a
        # burst, the siblings it wakes first (a new callable counts as slow) contend for
        # the cores, and on a loaded machine that can make every call measure slow.
        for _ in range(64):
            await pool.submit(quick)
        before = wakes.notified
        await burst()
        return wakes.notified - before

    try:
        assert asyncio.run(main()) == 1  # the hand-over of the burst, and nothing per call
    finally:
        pool.shutdown(timeout=10)


def test_a_new_slow_callable_still_runs_in_parallel_after_quick_ones(
    executor: ModelExecutor,
) -> None:
    barrier = threading.Barrier(4, timeout=10)

    def meet() -> bool:
        barrier.wait()
        return True

    async def main() -> list[bool]:
        await asyncio.gather(*(executor.submit(threading.get_ident) for _ in range(64)))
        return await asyncio.gather(*(executor.submit(meet) for _ in range(4)))

    assert asyncio.run(main()) == [True] * 4


def test_shutdown_leaves_hung_calls_within_its_timeout() -> None:
    # A model that never returns must not hold a shutdown past its timeout: the wait is
    # one timeout in all, and the hung workers (daemons) are left to the process's exit.
    pool = ModelExecutor(3, name="test-hung")
    gate = threading.Event()
    entered = threading.Semaphore(0)

    def hang() -> None:
        entered.release()
        gate.wait()

    async def main() -> None:
        # Different callables: the executor runs calls of one callable on one worker.
        hung = [pool.submit(lambda: hang()) for _ in range(3)]
        for _ in range(3):
            assert await asyncio.to_thread(entered.acquire, timeout=5)
        for future in hung:
            future.cancel()

    asyncio.run(main())
    try:
        started = time.monotonic()
        pool.shutdown(timeout=0.2)
        assert time.monotonic() - started < 0.5  # not 3 x 0.2 s, nor 30 s each
    finally:
        gate.set()
    wait_until(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("test-hung")],
        timeout=5,
        what="the released workers to end",
    )


def test_a_lane_runs_no_more_calls_at_once_than_its_limit() -> None:
    pool = ModelExecutor(6, name="test-lane")
    guard = threading.Lock()
    running = [0, 0]  # now, most

    def call(i: int) -> int:
        with guard:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.005)  # slow, and releases the GIL: unlimited, all six would overlap
        with guard:
            running[0] -= 1
        return i

    async def main() -> list[int]:
        return await asyncio.gather(*(pool.submit(call, i, lane=("m", 2)) for i in range(24)))

    try:
        assert asyncio.run(main()) == list(range(24))
    finally:
        pool.shutdown(timeout=10)
    assert running[1] == 2


def test_calls_waiting_on_a_full_lane_hold_no_worker() -> None:
    # Three workers; one call of a lane of one hangs, four more of that lane wait. Two
    # calls of another model must still meet: the waiting calls are set aside, not run
    # by workers that would then block.
    pool = ModelExecutor(3, name="test-lane-hold")
    gate = threading.Event()
    barrier = threading.Barrier(2, timeout=5)

    def meet() -> bool:
        barrier.wait()
        return True

    async def main() -> list[bool]:
        stuck = [pool.submit(gate.wait, 60, lane=("m", 1)) for _ in range(5)]
        others = await asyncio.gather(*(pool.submit(meet) for _ in range(2)))
        gate.set()
        await asyncio.gather(*stuck)
        return others

    try:
        assert asyncio.run(main()) == [True, True]
    finally:
        gate.set()
        pool.shutdown(timeout=10)


def test_a_cancelled_call_gives_back_its_place_in_the_lane() -> None:
    pool = ModelExecutor(2, name="test-lane-cancel")
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        first = pool.submit(lambda: (gate.wait(10), ran.append("first")), lane=("m", 1))
        second = pool.submit(ran.append, "second", lane=("m", 1))
        third = pool.submit(ran.append, "third", lane=("m", 1))
        second.cancel()
        gate.set()
        await first
        await asyncio.wait_for(third, 10)  # never run if the cancelled call kept its place

    try:
        asyncio.run(main())
    finally:
        gate.set()
        pool.shutdown(timeout=10)
    assert ran == ["first", "third"]


def test_a_withdrawn_call_never_runs_and_its_lane_moves_on() -> None:
    pool = ModelExecutor(2, name="test-withdraw")
    started, gate = threading.Event(), threading.Event()
    ran: list[str] = []

    def first_call() -> None:
        started.set()
        gate.wait(10)
        ran.append("first")

    async def main() -> tuple[bool, bool, bool]:
        first = pool.submit(first_call, lane=("m", 1))
        queued = pool.submit(ran.append, "queued", lane=("m", 1))  # waits aside
        assert await asyncio.to_thread(started.wait, 5)
        late = pool.submit(ran.append, "late", lane=("m", 1))
        taken_back = pool.withdraw(queued)
        running = pool.withdraw(first)  # it runs: it cannot be taken back
        gate.set()
        await first
        await asyncio.wait_for(late, 10)
        return taken_back, running, queued.cancelled()

    try:
        assert asyncio.run(main()) == (True, False, True)
    finally:
        gate.set()
        pool.shutdown(timeout=10)
    assert ran == ["first", "late"]


def test_a_call_withdrawn_before_its_hand_over_never_runs() -> None:
    pool = ModelExecutor(1, name="test-withdraw-pending")
    ran: list[int] = []

    async def main() -> bool:
        dropped = pool.submit(ran.append, 1)
        withdrawn = pool.withdraw(dropped)  # still in this loop iteration's batch
        await pool.submit(ran.append, 2)
        return withdrawn and dropped.cancelled()

    try:
        assert asyncio.run(main())
    finally:
        pool.shutdown(timeout=10)
    assert ran == [2]


def test_timed_is_told_how_long_a_call_ran_but_not_its_wait(executor: ModelExecutor) -> None:
    told: list[float] = []
    gate = threading.Event()

    def held() -> None:
        assert gate.wait(10)

    def failing() -> None:
        raise ValueError("no")

    async def main() -> None:
        blockers = [executor.submit(held) for _ in range(executor.workers)]
        timed = executor.submit(time.sleep, 0.01, timed=told.append)  # waits for a worker
        errored = executor.submit(failing, timed=told.append)
        await asyncio.sleep(0.2)  # the timed call waits this long for a worker
        gate.set()
        await asyncio.gather(*blockers, timed)
        with pytest.raises(ValueError):
            await errored

    asyncio.run(main())
    assert len(told) == 1  # a call that raised says nothing of what a call costs
    assert 0.01 <= told[0] < 0.2
