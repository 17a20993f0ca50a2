"""A Loader for a version that lives in object storage: copy it locally, then load.

The platform loaders read local directories only; this wrapper keeps object
storage out of them. The copy happens when the manager first asks for the
resource estimate (the start of a load), never when the source merely lists.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.sources.storage import Storage


class RemoteVersionLoader(Loader):
    """Materialises ``path`` from ``storage`` and delegates to the loader ``make`` builds.
    Serialised by the manager like any loader."""

    def __init__(self, storage: Storage, path: str, make: Callable[[pathlib.Path], Loader]) -> None:
        self._storage = storage
        self._path = path
        self._make = make
        self._inner: Loader | None = None

    def _loader(self) -> Loader:
        if self._inner is None:
            self._inner = self._make(self._storage.local_path(self._path))
        return self._inner

    def estimate_resources(self) -> ResourceEstimate:
        return self._loader().estimate_resources()

    def load(self) -> None:
        self._loader().load()

    def unload(self) -> None:
        if self._inner is not None:
            self._inner.unload()

    def servable(self) -> Any:
        return self._loader().servable()
