"""A dict-backed ``Manager`` for transport tests: serves the models a test adds and
counts open handles, so a test can prove every request released its version."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from tensorserve.core.errors import ServableNotFound
from tensorserve.core.manager import Manager, ServableHandle
from tensorserve.core.servable_id import RequestKind, ServableId, ServableRequest


class FakeHandle(ServableHandle):
    def __init__(self, manager: FakeManager, servable_id: ServableId, servable: Any) -> None:
        self._manager = manager
        self._id = servable_id
        self._servable = servable
        self._closed = False

    @property
    def id(self) -> ServableId:
        return self._id

    @property
    def servable(self) -> Any:
        return self._servable

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._manager.release()


class FakeManager(Manager):
    """Serves a ``{name: {version: model}}`` map and counts open handles. Thread-safe."""

    def __init__(self, models: Mapping[str, Mapping[int, Any]] | None = None) -> None:
        self.models = {name: dict(versions) for name, versions in (models or {}).items()}
        self._lock = threading.Lock()
        self.open_handles = 0

    def add(self, name: str, version: int, model: Any) -> None:
        self.models.setdefault(name, {})[version] = model

    def get_servable_handle(self, request: ServableRequest) -> ServableHandle:
        versions = self.models.get(request.name, {})
        if request.kind is RequestKind.SPECIFIC:
            version = request.version
        elif versions:
            version = max(versions) if request.kind is RequestKind.LATEST else min(versions)
        else:
            version = None
        if version not in versions:
            raise ServableNotFound(request)
        with self._lock:
            self.open_handles += 1
        return FakeHandle(self, ServableId(request.name, version), versions[version])

    def release(self) -> None:
        with self._lock:
            self.open_handles -= 1

    def available_ids(self) -> list[ServableId]:
        return sorted(ServableId(n, v) for n, versions in self.models.items() for v in versions)
