"""The serving map: the versions requests may use, read without a lock.

The map is an immutable snapshot (name -> versions sorted ascending) that
writers replace whole, so a reader only loads one attribute. Each loaded
version carries a reference count; a handle holds one reference, and an
unload first removes the version from the map, then waits for its count to
drop to zero. A version whose unload has begun refuses new references, and
a reader that meets one re-reads the snapshot, which no longer holds it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tensorserve.core.errors import ServableNotFound
from tensorserve.core.manager import ServableHandle
from tensorserve.core.servable_id import RequestKind, ServableId, ServableRequest

_Snapshot = Mapping[str, tuple["LoadedVersion", ...]]


class LoadedVersion:
    """A loaded servable plus the count of open handles to it. Thread-safe."""

    def __init__(self, servable_id: ServableId, servable: Any) -> None:
        self.id = servable_id
        self.servable = servable
        self._cond = threading.Condition()
        self._refs = 0
        self._closing = False

    def try_acquire(self) -> bool:
        """Take a reference unless quiescing has begun."""
        with self._cond:
            if self._closing:
                return False
            self._refs += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._refs -= 1
            if self._refs == 0:
                self._cond.notify_all()

    @property
    def open_handles(self) -> int:
        with self._cond:
            return self._refs

    def quiesce(self, timeout: float | None = None) -> bool:
        """Refuse new references, then wait until every handle is closed.

        Returns False if ``timeout`` seconds passed with handles still open.
        """
        with self._cond:
            self._closing = True
            return self._cond.wait_for(lambda: self._refs == 0, timeout)


class LoadedVersionHandle(ServableHandle):
    """A handle holding one reference on a :class:`LoadedVersion`.

    Meant for one request; ``close`` is idempotent and thread-safe.
    """

    def __init__(self, version: LoadedVersion) -> None:
        self._version = version
        self._lock = threading.Lock()
        self._closed = False

    @property
    def id(self) -> ServableId:
        return self._version.id

    @property
    def servable(self) -> Any:
        return self._version.servable

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._version.release()

    def __repr__(self) -> str:
        return f"LoadedVersionHandle({self.id})"


class ServingMap:
    """Versions available to requests.

    ``add`` and ``remove`` are serialised by a writer lock and replace the
    snapshot whole; ``get_handle`` and ``ids`` take no map lock.
    """

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._snapshot: _Snapshot = MappingProxyType({})

    def add(self, version: LoadedVersion) -> None:
        with self._write_lock:
            entries = dict(self._snapshot)
            others = [v for v in entries.get(version.id.name, ()) if v.id != version.id]
            entries[version.id.name] = tuple(sorted([*others, version], key=lambda v: v.id.version))
            self._snapshot = MappingProxyType(entries)

    def remove(self, servable_id: ServableId) -> LoadedVersion | None:
        """Take a version out of the map; returns it, or None if absent."""
        with self._write_lock:
            entries = dict(self._snapshot)
            versions = entries.get(servable_id.name, ())
            removed = next((v for v in versions if v.id == servable_id), None)
            if removed is None:
                return None
            kept = tuple(v for v in versions if v is not removed)
            if kept:
                entries[servable_id.name] = kept
            else:
                del entries[servable_id.name]
            self._snapshot = MappingProxyType(entries)
            return removed

    def ids(self) -> list[ServableId]:
        snapshot = self._snapshot
        return sorted(v.id for versions in snapshot.values() for v in versions)

    def get_handle(self, request: ServableRequest) -> LoadedVersionHandle:
        """A handle on the version ``request`` names; raises ``ServableNotFound``."""
        while True:
            version = _select(self._snapshot.get(request.name, ()), request)
            if version is None:
                raise ServableNotFound(request)
            if version.try_acquire():
                return LoadedVersionHandle(version)
            # Its unload began, so it has already left the map: read it again.


def _select(versions: tuple[LoadedVersion, ...], request: ServableRequest) -> LoadedVersion | None:
    if not versions:
        return None
    if request.kind is RequestKind.LATEST:
        return versions[-1]
    if request.kind is RequestKind.EARLIEST:
        return versions[0]
    return next((v for v in versions if v.id.version == request.version), None)
