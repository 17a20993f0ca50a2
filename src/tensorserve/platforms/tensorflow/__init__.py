"""The TensorFlow platform: the only place that loads SavedModels.

``options`` imports no TensorFlow; the other names import it (about 5 s) on
first access, so parsing flags stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .options import TensorFlowOptions

if TYPE_CHECKING:
    from .saved_model_loader import SavedModelLoader
    from .tensorflow_model import TensorFlowModel
    from .warmup import run_warmup

__all__ = ["SavedModelLoader", "TensorFlowModel", "TensorFlowOptions", "run_warmup"]

_LAZY = {
    "SavedModelLoader": ".saved_model_loader",
    "TensorFlowModel": ".tensorflow_model",
    "run_warmup": ".warmup",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
