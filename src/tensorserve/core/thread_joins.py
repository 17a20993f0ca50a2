"""Joining several threads within one timeout.

``Thread.join(timeout)`` in a loop waits up to ``timeout`` per thread: a shutdown
whose model threads all hang would take their number times the shutdown timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence


def join_all(threads: Sequence[threading.Thread], timeout: float | None) -> bool:
    """Join ``threads`` within ``timeout`` seconds in all (None: no limit); True when
    every one ended."""
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    for thread in threads:
        thread.join(None if deadline is None else max(deadline - time.monotonic(), 0.0))
    return not any(thread.is_alive() for thread in threads)
