"""Wait for a condition with a deadline instead of sleeping blindly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class GiveUp(Exception):
    """Raised by a condition that can no longer come true (the process it waits for has
    exited): :func:`wait_until` re-raises it at once instead of polling on."""


def wait_until(
    condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` s, or as
    soon as it raises :class:`GiveUp`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as exc:  # the condition may fail until the thing is up
            last_exc = exc
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what or condition}"
                + (f" (last error: {last_exc!r})" if last_exc else "")
            )
        time.sleep(interval)
