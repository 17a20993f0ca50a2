"""Each version's code imported as a package of its own, and removed without trace.

A version directory becomes the package
``tensorserve_servables._<model>_v<version>_<hash of the path>``, whose
``__path__`` is that directory, and ``servable.py`` is imported as its
``servable`` submodule. Helper modules beside it are imported relatively
(``from . import helpers``), so two versions, or two models, with a
``helpers.py`` each never see each other's; ``sys.path`` is not touched.
Removing the package deletes it and every submodule from ``sys.modules``.

Not thread-safe for one version; the manager serialises load and unload.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
import types
from pathlib import Path

ROOT_PACKAGE = "tensorserve_servables"
SERVABLE_MODULE = "servable"


def _root() -> types.ModuleType:
    root = sys.modules.get(ROOT_PACKAGE)
    if root is None:
        root = types.ModuleType(ROOT_PACKAGE, "Packages of loaded Python servable versions.")
        root.__path__ = []
        sys.modules[ROOT_PACKAGE] = root
    return root


class VersionPackage:
    """The synthetic package of one version directory."""

    def __init__(self, name: str, version: int, path: Path) -> None:
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
        safe = re.sub(r"\W", "_", name)
        self.path = path
        self.name = f"{ROOT_PACKAGE}._{safe}_v{version}_{digest}"

    def import_servable(self) -> types.ModuleType:
        """Import ``servable.py``; on any error nothing of this version stays imported."""
        _root()
        package = types.ModuleType(self.name)
        package.__path__ = [str(self.path)]
        package.__package__ = self.name
        package.__file__ = None
        sys.modules[self.name] = package
        try:
            return importlib.import_module(f"{self.name}.{SERVABLE_MODULE}")
        except BaseException:
            self.remove()
            raise

    def modules(self) -> list[str]:
        """Names in ``sys.modules`` that belong to this version."""
        prefix = self.name + "."
        return [key for key in list(sys.modules) if key == self.name or key.startswith(prefix)]

    def remove(self) -> None:
        """Forget the package and all its submodules."""
        for key in self.modules():
            sys.modules.pop(key, None)
        importlib.invalidate_caches()
