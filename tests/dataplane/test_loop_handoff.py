"""LoopHandoff runs thread-side callbacks on the loop, in order, one wake-up per burst."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tensorserve.dataplane.loop_handoff import LoopHandoff, loop_handoff


def test_a_burst_from_a_thread_runs_in_order_with_one_wake_up() -> None:
    loop = asyncio.new_event_loop()
    wakes = 0
    original = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal wakes
        wakes += 1
        return original(callback, *args, **kwargs)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    handoff = LoopHandoff(loop)
    seen: list[tuple[int, int]] = []
    burst_sent = threading.Event()

    def burst() -> None:  # the loop is not running yet, so the whole burst queues
        for i in range(100):
            handoff.call(lambda n: seen.append((n, threading.get_ident())), i)
        burst_sent.set()

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()
    assert burst_sent.is_set() and wakes == 1

    async def drained() -> int:
        while len(seen) < 100:
            await asyncio.sleep(0)
        return threading.get_ident()

    try:
        loop_thread = loop.run_until_complete(drained())
    finally:
        loop.close()
    assert [n for n, _ in seen] == list(range(100))
    assert {ident for _, ident in seen} == {loop_thread}


def test_calls_after_the_loop_closed_are_dropped_quietly() -> None:
    loop = asyncio.new_event_loop()
    handoff = loop_handoff(loop)
    loop.close()
    handoff.call(lambda _: None, None)  # no exception: nobody waits on a closed loop
    handoff.call(lambda _: None, None)
