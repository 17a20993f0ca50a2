"""tensorserve: a Python model server wire-compatible with TensorFlow Serving.

The names below are the public API for writing a Python servable (see
``docs/servables.md``); they load on first use, so ``import tensorserve``
stays cheap for the command-line tools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tensorserve.platforms.python.api import InvalidInput, Servable, TensorSpec
    from tensorserve.platforms.python.api import ServableSignature as Signature

__all__ = ["InvalidInput", "Servable", "Signature", "TensorSpec", "__version__"]

_PUBLIC = {
    "InvalidInput": "InvalidInput",
    "Servable": "Servable",
    "Signature": "ServableSignature",
    "TensorSpec": "TensorSpec",
}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        api = importlib.import_module("tensorserve.platforms.python.api")
        return getattr(api, _PUBLIC[name])
    if name == "testing":
        return importlib.import_module("tensorserve.testing")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
