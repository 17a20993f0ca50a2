"""Keep glibc's allocator from holding on to memory a long-running server freed.

Two glibc defaults make a server's resident memory creep up without a leak:
every thread that allocates may get its own arena (8 x cores of them), each
keeping freed memory for reuse; and after a large block is freed, the
threshold above which blocks are mmap'd (and returned to the system on free)
rises to that block's size, so later large blocks stay in the heap. A request
body of ~100 MB decompressed on a worker thread is enough to trigger both
(measured in ``tests/e2e/test_rest_fuzz.py``: 695 -> 849 MiB over 3,000 hostile
requests by default, 695 -> 698 MiB with this).
Capping the arenas and pinning the threshold keeps resident memory close to
what is in use. A no-op where glibc's ``mallopt`` is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

_LOG = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

#: Arenas shared by all threads (glibc's default is 8 per core).
ARENA_MAX = 2
#: Blocks at least this large are mmap'd and go back to the system when freed.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def tune_malloc() -> bool:
    """Apply the settings above; call before worker threads start. True if applied."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = bool(mallopt(_M_ARENA_MAX, ARENA_MAX)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    )
    if not applied:
        _LOG.warning("mallopt refused the allocator settings; resident memory may creep")
    return applied
