"""Detects an ``async def`` servable method that blocks the event loop.

:func:`timed_steps` drives a coroutine step by step, as the loop would, and
times each step: the time between two awaits is time the loop could do
nothing else. A step longer than ``LOOP_BLOCK_WARN_S`` is reported, so a
servable that calls blocking code from ``async def`` shows up in the log.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")

LOOP_BLOCK_WARN_S = 0.1


class timed_steps(Awaitable[T]):  # a class used like a function
    """Await ``coroutine``, calling ``on_blocked(seconds)`` for each step over the limit."""

    __slots__ = ("_coroutine", "_limit_s", "_on_blocked")

    def __init__(
        self,
        coroutine: Awaitable[T],
        on_blocked: Callable[[float], None],
        limit_s: float = LOOP_BLOCK_WARN_S,
    ) -> None:
        self._coroutine = coroutine
        self._on_blocked = on_blocked
        self._limit_s = limit_s

    def __await__(self) -> Generator[Any, Any, T]:
        steps = self._coroutine.__await__()
        send_value: Any = None
        error: BaseException | None = None
        while True:
            started = time.perf_counter()
            try:
                yielded = steps.send(send_value) if error is None else steps.throw(error)
            except StopIteration as stop:
                self._check(started)
                return stop.value  # type: ignore[no-any-return]
            self._check(started)
            try:
                send_value = yield yielded
                error = None
            except BaseException as exc:  # delivered into the coroutine, like the loop does
                send_value = None
                error = exc

    def _check(self, started: float) -> None:
        elapsed = time.perf_counter() - started
        if elapsed > self._limit_s:
            self._on_blocked(elapsed)
