"""Hand back the pages of shared-library code that only start-up touched.

Loading TensorFlow's libraries runs their static initialisers: thousands of op and
kernel registrations spread through ``libtensorflow_cc.so.2`` and
``libtensorflow_framework.so.2``. Each one faults in its code page and, by the kernel's
fault-around, the 64 KiB about it, so the process ends its start holding ~300 MiB of
library code it never runs again (measured in docs/benchmarks.md, "Where the resident
memory goes"). Those are clean pages of files: dropping them from the process loses
nothing, because a page read again comes back from the page cache by a minor fault.

So once the models have loaded, :func:`release_clean_file_pages` drops every page of a
private, read-only file mapping that holds no private copy. Mappings that were ever
written (relocated ``.data.rel.ro``, anything with ``Anonymous`` pages in ``smaps``)
are left alone: dropping those would bring back the file's unrelocated bytes. The code
that serving runs faults back in within the first requests; the rest stays out of the
process and in the page cache, the memory the kernel reclaims first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

_LOG = logging.getLogger(__name__)

_MADV_DONTNEED = 4


@dataclasses.dataclass(frozen=True)
class Mapping:
    """One memory mapping as ``/proc/<pid>/smaps`` describes it."""

    start: int
    end: int
    perms: str
    path: str
    rss_kib: int
    anonymous_kib: int

    @property
    def droppable(self) -> bool:
        """Private, never writable, a real file, and no page a private copy."""
        return (
            self.path.startswith("/")
            and self.perms[1] == "-"
            and self.perms[3] == "p"
            and self.anonymous_kib == 0
            and self.rss_kib > 0
        )


@dataclasses.dataclass(frozen=True)
class Released:
    """What :func:`release_clean_file_pages` dropped."""

    mappings: int
    kib: int


def parse_smaps(text: str) -> Iterator[Mapping]:
    """The mappings of an ``smaps`` text, with the two sizes this module needs."""
    header: list[str] | None = None
    sizes: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0].endswith(":") and header is not None:
            if fields[0] in ("Rss:", "Anonymous:"):
                sizes[fields[0]] = int(fields[1])
            continue
        if header is not None:
            yield _mapping(header, sizes)
        header, sizes = fields, {}
    if header is not None:
        yield _mapping(header, sizes)


def _mapping(header: list[str], sizes: dict[str, int]) -> Mapping:
    start, end = (int(part, 16) for part in header[0].split("-"))
    path = " ".join(header[5:]) if len(header) > 5 else ""
    return Mapping(
        start,
        end,
        header[1],
        path,
        sizes.get("Rss:", 0),
        # A mapping smaps gives no Anonymous line for is treated as written.
        sizes.get("Anonymous:", 1),
    )


def release_clean_file_pages(smaps: Path = Path("/proc/self/smaps")) -> Released:
    """Drop this process's clean, read-only file-backed pages (see the module's doc).

    Safe at any moment and from any thread: a dropped page is read again on its next
    use. Returns what was dropped; nothing where ``smaps`` or ``madvise`` is missing.
    """
    name = ctypes.util.find_library("c")
    try:
        text = smaps.read_text()
        madvise = ctypes.CDLL(name, use_errno=True).madvise if name else None
    except (OSError, AttributeError):
        return Released(0, 0)
    if madvise is None:
        return Released(0, 0)
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    mappings = kib = 0
    for mapping in parse_smaps(text):
        if not mapping.droppable:
            continue
        if madvise(mapping.start, mapping.end - mapping.start, _MADV_DONTNEED) == 0:
            mappings += 1
            kib += mapping.rss_kib
    _LOG.info("Released %d MiB of start-up-only library pages", kib // 1024)
    return Released(mappings, kib)
