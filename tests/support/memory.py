"""A server's memory as a leak check should read it."""

from __future__ import annotations

import psutil


def anonymous_bytes(process: psutil.Process) -> int:
    """Resident anonymous memory (heap, allocator arenas, thread stacks): what a leak
    grows. File-backed pages are left out: the server hands back library code that only
    its start-up ran (``tensorserve/code_pages.py``), and requests read some of it back
    as they reach new code paths, which moves RSS without anything leaking."""
    info = process.memory_info()
    return int(info.rss - info.shared)
