"""CallCosts predicts a call's time from its input size, and learns from every call."""

from __future__ import annotations

import numpy as np

from tensorserve.dataplane.call_costs import CallCosts, input_bytes


def test_a_call_never_seen_is_not_quick() -> None:
    assert not CallCosts(0.001).quick("m", 1)


def test_a_call_like_the_quick_ones_seen_is_quick_and_a_larger_one_is_not() -> None:
    costs = CallCosts(0.001)
    costs.observe("m", 1000, 0.0005)  # 0.5 µs per byte
    assert costs.quick("m", 1000)
    assert costs.quick("m", 2000)  # 1 ms: at the limit
    assert not costs.quick("m", 8100)  # past four times the limit: not even re-measured
    assert not costs.quick("other", 10)  # per key


def test_faster_calls_bring_the_estimate_down_sooner_than_slower_ones_raise_it() -> None:
    # Wall-clock times on a worker include waits for the GIL: the lower envelope is the
    # call's cost, so a call that ran slow moves the estimate only a little.
    costs = CallCosts(0.001)
    costs.observe("m", 1000, 0.0005)
    costs.observe("m", 1000, 0.005)  # one slow call: still quick
    assert costs.quick("m", 1000)
    for _ in range(30):  # calls that stay slow: a loaded machine
        costs.observe("m", 1000, 0.005)
    assert not costs.quick("m", 1000)
    for _ in range(10):
        costs.observe("m", 1000, 0.0005)
    assert costs.quick("m", 1000)


def test_a_cold_first_call_is_forgotten_after_a_few_quick_ones() -> None:
    costs = CallCosts(0.0002)
    costs.observe("m", 3136, 0.005)  # the first call, caches cold
    for _ in range(8):
        costs.observe("m", 3136, 0.0001)
    assert costs.quick("m", 3136)


def test_input_bytes_counts_numeric_arrays_and_refuses_object_ones() -> None:
    numbers = {"a": np.zeros((2, 3), np.float32), "b": np.zeros(4, np.int64)}
    assert input_bytes(numbers) == 2 * 3 * 4 + 4 * 8
    assert input_bytes({"s": np.array([b"x" * 10_000], object)}) is None
    assert input_bytes({}) == 0


def test_calls_kept_on_the_workers_by_slow_timings_are_re_measured_in_place() -> None:
    # A worker's timing includes its wait for the GIL back: a busy loop can keep a quick
    # call's estimate above the limit. Once a second such a call runs in place instead.
    now = [100.0]
    costs = CallCosts(0.0002, clock=lambda: now[0])
    costs.observe("m", 1000, 0.0004)  # twice the limit, as timed on a worker
    assert costs.quick("m", 1000)  # due for a re-measurement
    assert not costs.quick("m", 1000)  # not again within the second
    costs.observe("m", 1000, 0.0001)  # in place: the call itself
    costs.observe("m", 1000, 0.0004)  # on a worker again
    now[0] += 1.0
    assert costs.quick("m", 1000)
    costs.observe("m", 1000, 0.0001)
    assert costs.quick("m", 1000) and costs.quick("m", 1000)  # quick now, every call
    costs.observe("other", 1000, 0.005)  # 25 times the limit: never probed
    assert not costs.quick("other", 1000)
