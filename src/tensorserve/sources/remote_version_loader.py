"""A Loader for a version that lives in object storage: copy it locally, then load.

The platform loaders read local directories only; this wrapper keeps object
storage out of them. The copy happens when the manager first asks for the
resource estimate (the start of a load), never when the source merely lists.

Object stores fail in ways a disk does not: a download cut off midway, an
object answered in part. The manager retries loads but not estimates, so a
copy that fails at the estimate is tried again by ``load`` (the estimate is
then zero until the version has loaded and is estimated again), and a load
that fails drops the local copy, so the next attempt copies the version anew:
an object fixed in the store meanwhile is picked up, a bad copy never reused.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable
from typing import Any

from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.sources.storage import Storage

_LOG = logging.getLogger(__name__)


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
        try:
            loader = self._loader()
        except Exception as exc:  # load() copies again, and load failures are retried
            _LOG.warning("Copying %s for its resource estimate failed: %s", self._path, exc)
            return ResourceEstimate()
        return loader.estimate_resources()

    def load(self) -> None:
        try:
            self._loader().load()
        except Exception:
            self._inner = None
            self._storage.discard_local_copy(self._path)
            raise

    def unload(self) -> None:
        if self._inner is not None:
            self._inner.unload()

    def servable(self) -> Any:
        return self._loader().servable()
