"""Running averages of per-model call timings, bounded in how many models they keep.

The executor keeps the share of each model's calls that were slow, and ``CallCosts``
the seconds per input byte of each model's calls. Both are exponentially weighted
averages keyed by something of a model, updated on every call from the event loop or a
worker thread: unlocked, because a lost update only steers one call.
"""

from __future__ import annotations

from collections.abc import Hashable

MAX_TRACKED = 1024
"""Keys kept before starting afresh: keys of unloaded models are never removed one by one."""


class RunningAverages:
    """An exponentially weighted average per key. A value below the average moves it by
    ``down`` of the difference, one above by ``up``; the first value is taken whole."""

    __slots__ = ("_averages", "_down", "_up")

    def __init__(self, *, up: float, down: float) -> None:
        self._up = up
        self._down = down
        self._averages: dict[Hashable, float] = {}

    def get(self, key: Hashable) -> float | None:
        """The average for ``key``; None before its first value."""
        return self._averages.get(key)

    def add(self, key: Hashable, value: float) -> None:
        averages = self._averages
        average = averages.get(key)
        if average is None:
            if len(averages) >= MAX_TRACKED:
                averages.clear()
            averages[key] = value
        else:
            averages[key] = average + (value - average) * (
                self._down if value < average else self._up
            )
