"""Hands callbacks from worker threads to an event loop, one wake-up per burst.

``loop.call_soon_threadsafe`` writes to the loop's wake-up descriptor on every
call. A batch of 32 requests finishing together would pay 32 system calls on
the batch thread and wake the loop up to 32 times; ``LoopHandoff`` queues the
callbacks and schedules one drain for all that arrive before the loop runs it.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Any

_HANDOFFS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopHandoff] = (
    weakref.WeakKeyDictionary()
)


class LoopHandoff:
    """Runs ``fn(arg)`` on ``loop`` for callers on any thread, in call order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._queued: list[tuple[Callable[[Any], None], Any]] = []

    def call(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Schedule ``fn(arg)`` on the loop; a no-op once the loop is closed."""
        with self._lock:
            self._queued.append((fn, arg))
            if len(self._queued) > 1:
                return  # a drain is already scheduled and will run this one too
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop closed: nobody is waiting any more
            with self._lock:
                self._queued.clear()

    def _drain(self) -> None:
        with self._lock:
            queued, self._queued = self._queued, []
        for fn, arg in queued:
            fn(arg)


def loop_handoff(loop: asyncio.AbstractEventLoop) -> LoopHandoff:
    """The handoff of ``loop``, made on first use. Call from ``loop``'s own thread."""
    handoff = _HANDOFFS.get(loop)
    if handoff is None:
        handoff = _HANDOFFS[loop] = LoopHandoff(loop)
    return handoff
