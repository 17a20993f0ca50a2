"""Which model calls are quick enough to run on the event loop itself.

Handing a call to a worker thread and its answer back costs two thread wake-ups and
two GIL hand-overs: on the 2-core target, tens of microseconds of CPU and more of
latency. For a model whose call is itself ~50 µs (the MNIST CNN in ONNX Runtime at
batch 1), that is most of the call. :class:`CallCosts` predicts a call's time from
the size of its inputs, so the data plane can run a call predicted to be quick where
it is, and hand every other one to the workers.

Only models that say their calls just compute (``compute_only``: no I/O, no waiting
on anything, time growing with the input) are ever run in place. The prediction is a
running average of seconds per input byte, per model and signature, taken over the
calls seen so far wherever they ran. Fixed per-call overhead makes a small call's rate
the higher one, so a large input after small ones is over-estimated and goes to a
worker; a signature never seen runs on a worker first. Calls that keep running slower
raise the rate, so a loaded machine moves them back to the workers.

A call on a worker is timed with its wait for the GIL back, which a busy event loop can
stretch past the limit even when the call itself is quick. So calls kept on the workers
by that are re-measured: while the prediction is within a few times the limit, one call
a second runs in place, where the wait does not arise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping

import numpy as np

from tensorserve.dataplane.running_averages import MAX_TRACKED, RunningAverages

IN_PLACE_S = 0.0002
"""Calls predicted at or below this run on the event loop: about what a hand-over to a
worker and back costs here. Measured: ``docs/benchmarks.md``, "Quick calls in place"."""
_FASTER, _SLOWER = 0.5, 0.1
"""How far one call moves the rate down or up. A call is timed by the wall clock, and on
a worker that includes waiting for the GIL after the runtime returns (up to the switch
interval, 5 ms, while the event loop is busy): the lower envelope is the call's cost."""
_PROBE_WITHIN = 4.0
"""A call predicted at most this many times the limit may run in place to be re-measured
(at most once a second): a wrong guess blocks the loop for under a millisecond."""
_PROBE_EVERY_S = 1.0


def input_bytes(inputs: Mapping[str, np.ndarray]) -> int | None:
    """The bytes a call computes on; None when that says nothing of its cost (strings
    and other object arrays, whose elements live outside the array)."""
    total = 0
    for array in inputs.values():
        if not isinstance(array, np.ndarray) or array.dtype.hasobject:
            return None
        total += array.nbytes
    return total


class CallCosts:
    """Seconds per input byte of recent calls, per key (a model and signature).

    Used from the event loop only; worker threads report through it too, but a lost
    update only steers one call."""

    __slots__ = ("_clock", "_limit_s", "_probed", "_rates")

    def __init__(
        self, limit_s: float = IN_PLACE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit_s = limit_s
        self._clock = clock
        self._rates = RunningAverages(up=_SLOWER, down=_FASTER)
        self._probed: dict[Hashable, float] = {}  # when a call last ran in place to re-measure

    def quick(self, key: Hashable, size: int) -> bool:
        """Whether a call of ``key`` on ``size`` input bytes should run in place: predicted
        to take at most the limit, or due for a re-measurement (False for a key not seen
        yet)."""
        rate = self._rates.get(key)
        if rate is None:
            return False
        predicted = rate * size
        if predicted <= self._limit_s:
            return True
        if predicted > self._limit_s * _PROBE_WITHIN:
            return False
        now = self._clock()
        if now - self._probed.get(key, -_PROBE_EVERY_S) < _PROBE_EVERY_S:
            return False
        if len(self._probed) >= MAX_TRACKED:
            self._probed.clear()
        self._probed[key] = now
        return True

    def observe(self, key: Hashable, size: int, elapsed_s: float) -> None:
        """Record that a call of ``key`` on ``size`` input bytes took ``elapsed_s``."""
        self._rates.add(key, elapsed_s / max(size, 1))
