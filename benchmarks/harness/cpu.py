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


def wait_until_idle(
    pids: list[int], busy_below: float = 0.05, interval_s: float = 0.25, limit_s: float = 60.0
) -> float:
    """Wait until the servers ``pids`` (with their children) use less than ``busy_below``
    of a core over ``interval_s``, or ``limit_s`` passed; returns the seconds waited.

    A load generator stops with requests in flight, and a server runs them to the end:
    four abandoned batch-32 MobileNetV2 requests are seconds of CPU. Without this wait
    that tail lands in the next cell, on the next server (measured: its gRPC batch-1
    cell read 100-120 images/s after a batch-32 cell, 170-190 alone)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = [process_tree_cpu_s(pid) for pid in pids]
        time.sleep(interval_s)
        after = [process_tree_cpu_s(pid) for pid in pids]
        used = sum(
            b - a for a, b in zip(before, after, strict=True) if a is not None and b is not None
        )
        if used / interval_s < busy_below:
            break
    return time.monotonic() - started


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
