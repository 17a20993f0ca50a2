"""Releasing start-up-only library pages: what is dropped, what must never be, and that
a dropped page reads back the same."""

from __future__ import annotations

import ctypes
import mmap
import sys
from pathlib import Path

import pytest

from tensorserve.code_pages import Mapping, parse_smaps, release_clean_file_pages

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/smaps"
)

SMAPS = """\
7f0000000000-7f0000200000 r--p 00000000 08:01 123 /usr/lib/libfoo.so
Size:               2048 kB
Rss:                1024 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
7f0000200000-7f0000400000 r-xp 00200000 08:01 123 /usr/lib/libfoo.so
Size:               2048 kB
Rss:                 512 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
7f0000400000-7f0000410000 r--p 00400000 08:01 123 /usr/lib/libfoo.so
Size:                 64 kB
Rss:                  64 kB
Anonymous:            64 kB
VmFlags: rd mr mw me ac
7f0000410000-7f0000420000 rw-p 00410000 08:01 123 /usr/lib/libfoo.so
Size:                 64 kB
Rss:                  16 kB
Anonymous:             8 kB
7f0000420000-7f0000430000 r--s 00000000 00:05 9 /dev/shm/region
Rss:                  64 kB
Anonymous:             0 kB
7f0000430000-7f0000440000 r--p 00000000 00:00 0
Rss:                   4 kB
Anonymous:             4 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
7f0000440000-7f0000450000 r--p 00000000 08:01 124 /usr/lib/with space.so
Rss:                  12 kB
Anonymous:             0 kB
"""


def test_smaps_is_read_mapping_by_mapping() -> None:
    mappings = list(parse_smaps(SMAPS))
    assert [m.perms for m in mappings] == [
        "r--p", "r-xp", "r--p", "rw-p", "r--s", "r--p", "r-xp", "r--p"
    ]  # fmt: skip
    assert mappings[0] == Mapping(
        0x7F0000000000, 0x7F0000200000, "r--p", "/usr/lib/libfoo.so", 1024, 0
    )
    assert mappings[-1].path == "/usr/lib/with space.so"
    assert mappings[6].path == "[vdso]"


def test_only_private_read_only_file_pages_never_written_are_droppable() -> None:
    droppable = [m.droppable for m in parse_smaps(SMAPS)]
    # rodata and text: yes. Relocated RELRO (anonymous pages), writable data, a shared
    # mapping, anonymous memory and the vDSO: no.
    assert droppable == [True, True, False, False, False, False, False, True]


def test_a_mapping_smaps_says_nothing_of_counts_as_written() -> None:
    (mapping,) = parse_smaps("7f0000000000-7f0000001000 r--p 00000000 08:01 1 /lib/x.so\n")
    assert not mapping.droppable


def _mapping_at(address: int) -> Mapping:
    for mapping in parse_smaps(Path("/proc/self/smaps").read_text()):
        if mapping.start <= address < mapping.end:
            return mapping
    raise AssertionError(f"no mapping holds {address:#x}")


def _address(view: mmap.mmap) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def test_clean_file_pages_are_dropped_and_read_back_the_same(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    path = tmp_path / "library.bin"
    path.write_bytes(data)
    with path.open("rb") as file:
        view = mmap.mmap(file.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    # A read-only mmap has no writable buffer; its address comes from the maps line.
    before = next(
        m for m in parse_smaps(Path("/proc/self/smaps").read_text()) if m.path == str(path)
    )
    assert view[:] == data  # every page touched
    touched = _mapping_at(before.start)
    assert touched.rss_kib >= 1024 and touched.droppable

    released = release_clean_file_pages()

    assert released.kib >= 1024
    assert _mapping_at(before.start).rss_kib == 0
    assert view[:] == data
    view.close()


def test_a_written_private_page_survives_a_release(tmp_path: Path) -> None:
    """The RELRO case: written while writable, then made read-only; dropping it would
    bring back the file's bytes."""
    path = tmp_path / "relro.bin"
    path.write_bytes(b"\0" * mmap.PAGESIZE * 4)
    with path.open("r+b") as file:
        view = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
    view[:8] = b"relocatd"
    address = _address(view)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    assert libc.mprotect(address, len(view), mmap.PROT_READ) == 0, ctypes.get_errno()
    mapping = _mapping_at(address)
    assert mapping.perms == "r--p" and mapping.anonymous_kib > 0 and not mapping.droppable

    release_clean_file_pages()

    assert view[:8] == b"relocatd"
    assert path.read_bytes()[:8] == b"\0" * 8
    assert libc.mprotect(address, len(view), mmap.PROT_READ | mmap.PROT_WRITE) == 0
    view.close()


def test_nothing_is_released_where_smaps_cannot_be_read(tmp_path: Path) -> None:
    assert release_clean_file_pages(tmp_path / "absent").kib == 0
