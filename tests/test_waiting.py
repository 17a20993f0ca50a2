"""The tests' wait helper: polls to a deadline, and gives up at once when told to."""

from __future__ import annotations

import time

import pytest

from tests.support.waiting import GiveUp, wait_until


def test_a_condition_that_comes_true_is_returned() -> None:
    answers = iter([0, None, "up"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "up"


def test_errors_are_retried_until_the_deadline_and_then_reported() -> None:
    def fails() -> bool:
        raise ConnectionRefusedError("not yet")

    with pytest.raises(TimeoutError, match="not yet"):
        wait_until(fails, timeout=0.05, interval=0.01, what="the port")


def test_give_up_ends_the_wait_at_once() -> None:
    """A server that exited at start fails its test now, not after the startup timeout."""

    def exited() -> bool:
        raise GiveUp("server exited with 1")

    started = time.monotonic()
    with pytest.raises(GiveUp, match="exited with 1"):
        wait_until(exited, timeout=60)
    assert time.monotonic() - started < 5
