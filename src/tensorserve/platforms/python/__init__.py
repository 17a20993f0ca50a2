"""The Python platform: servables written as a ``servable.py`` in a version directory.

``api`` is the public surface (``tensorserve.Servable`` and friends);
``servable_loader`` plugs a version directory into the Source/Loader/Manager
lifecycle; ``python_model`` is the loaded version the data plane calls;
``model_caller`` is ``context.models``. Importing this package imports no
user code and no TensorFlow.
"""

from .api import (
    InvalidInput,
    LoadContext,
    RequestContext,
    Servable,
    ServableSignature,
    TensorSpec,
)

__all__ = [
    "InvalidInput",
    "LoadContext",
    "RequestContext",
    "Servable",
    "ServableSignature",
    "TensorSpec",
]
