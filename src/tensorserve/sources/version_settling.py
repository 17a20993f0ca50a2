"""Holding back a version directory until it has stopped changing.

Writing a version in place (``cp -r``, ``gsutil cp``, an upload that is not one
atomic rename) makes the directory visible to the poller before its files are
complete. TensorFlow Serving loads it anyway and relies on load retries
(``--max_num_load_retries`` every ``--load_retry_interval_micros``, a minute by
default): a copy caught half-way fails and waits a minute, and a half-written
version whose missing part the loader does not check (the warmup file, an
``assets.extra`` file) would load and serve. tensorserve instead lets a new version
directory through only once nothing under it has changed for ``settle_seconds``:

* the newest modification time under the directory (the directory itself and
  every file and subdirectory, recursively) is at least ``settle_seconds`` old, or
* that newest time has stayed the same over ``settle_seconds`` of polling (so a
  clock that disagrees with the file system's, such as an object store's, still
  lets the version through).

A writer that is still writing moves a modification time forward: the file it
writes, or the directory it adds an entry to. A publish by ``rename`` of a
directory written earlier (what ``tensorserve export`` does) is let through at
once, since a rename changes no modification time inside the directory. Load
retries still cover a copy that stalls for longer than ``settle_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from tensorserve.sources.storage import Storage

_LOG = logging.getLogger(__name__)

DEFAULT_SETTLE_SECONDS = 2.0
"""How long a new version directory must stay unchanged before it is loaded."""


class SettleGate:
    """Decides which version directories of one servable have settled.

    Once a path has settled it is not checked again while it stays listed; a
    path that leaves the listing is forgotten, so a version deleted and written
    again is checked again. Not thread-safe: the source calls it under its
    poll lock. Costs one recursive ``stat`` walk per unsettled directory per poll.
    """

    def __init__(
        self,
        settle_seconds: float,
        *,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settle_seconds = settle_seconds
        self._wall_clock = wall_clock
        self._clock = clock
        self._settled: set[str] = set()
        self._watching: dict[str, tuple[float, float]] = {}  # path -> (newest change, since)

    def is_settled(self, storage: Storage, path: str) -> bool:
        """Whether ``path`` has stopped changing (always True with a period <= 0)."""
        if self._settle_seconds <= 0 or path in self._settled:
            return True
        try:
            newest = storage.newest_change(path)
        except Exception as exc:  # vanished or unreadable mid-poll: look again next time
            _LOG.info("Version directory %s could not be examined yet: %s", path, exc)
            self._watching.pop(path, None)
            return False
        if newest is None or self._wall_clock() - newest >= self._settle_seconds:
            return self._settle(path)
        seen = self._watching.get(path)
        if seen is None or seen[0] != newest:
            self._watching[path] = (newest, self._clock())
            return False
        if self._clock() - seen[1] >= self._settle_seconds:
            return self._settle(path)
        return False

    def keep_only(self, listed: Iterable[str]) -> None:
        """Forget every path not in ``listed`` (the current listing)."""
        present = set(listed)
        self._settled &= present
        self._watching = {p: seen for p, seen in self._watching.items() if p in present}

    def _settle(self, path: str) -> bool:
        self._settled.add(path)
        self._watching.pop(path, None)
        return True
