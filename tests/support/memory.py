"""A server's memory as a leak check should read it, and checks that objects are freed
when their last reference goes."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import psutil


def anonymous_bytes(process: psutil.Process) -> int:
    """Resident anonymous memory (heap, allocator arenas, thread stacks): what a leak
    grows. File-backed pages are left out: the server hands back library code that only
    its start-up ran (``tensorserve/code_pages.py``), and requests read some of it back
    as they reach new code paths, which moves RSS without anything leaking."""
    info = process.memory_info()
    return int(info.rss - info.shared)


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (and on again after, if it was): an
    object freed inside it went with its last reference, not in a collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def all_freed(refs: Iterable[weakref.ref[Any]]) -> bool:
    """Whether every object ``refs`` point to is gone."""
    return all(ref() is None for ref in refs)
