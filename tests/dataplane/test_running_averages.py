"""RunningAverages: weighted per key, asymmetric when asked, bounded in keys."""

from __future__ import annotations

import pytest

from tensorserve.dataplane.running_averages import MAX_TRACKED, RunningAverages


def test_the_first_value_is_taken_whole_and_later_ones_by_their_weight() -> None:
    averages = RunningAverages(up=0.1, down=0.5)
    assert averages.get("a") is None
    averages.add("a", 10.0)
    assert averages.get("a") == 10.0
    averages.add("a", 20.0)  # above: moves up by 0.1 of the difference
    assert averages.get("a") == pytest.approx(11.0)
    averages.add("a", 1.0)  # below: moves down by half
    assert averages.get("a") == pytest.approx(6.0)
    assert averages.get("b") is None


def test_past_the_bound_it_starts_afresh_rather_than_growing() -> None:
    # Keys of unloaded models are never removed one by one.
    averages = RunningAverages(up=0.1, down=0.1)
    for key in range(MAX_TRACKED):
        averages.add(key, 1.0)
    averages.add("new", 2.0)
    assert averages.get(0) is None
    assert averages.get("new") == 2.0
