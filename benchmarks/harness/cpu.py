"""CPU seconds spent by a server's process tree, to price one request apart from the
load generator that shares the cores.

Uses psutil (a dev dependency); without it every reading is ``None`` and the
table shows "-". A child that exits mid-cell takes its CPU time with it, so
servers whose workers are long-lived (all of ours) are priced correctly.
"""

from __future__ import annotations

import contextlib
import time


def process_tree_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its living descendants, or None."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def one_copy_us(size: int) -> float:
    """This process's time to copy ``size`` bytes once (best of 5): the unit in which the
    large-message benchmarks price a call ("copies")."""
    source = bytearray(size)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        bytes(source)
        best = min(best, time.perf_counter() - started)
    return best * 1e6
