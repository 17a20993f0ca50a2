"""Import TensorFlow without the Keras (and scikit-learn) it imports eagerly, and only
when a model needs it.

``import tensorflow`` (2.16+) ends with ``importlib.import_module("keras.src.optimizers")``
inside ``try/except ImportError``, only so that Keras' optimizers register for
``tf.saved_model.load`` of Keras models. That one line imports all of Keras, which
imports scikit-learn, SciPy and pandas: about 1.4 s of the import and ~100 MB resident
here. The server loads SavedModels with TensorFlow's v1 loader and never uses Keras, so
``serve`` blocks that one import while TensorFlow initialises, then lifts the block so a
later ``import keras`` (the export tool, a test, a Python servable) works as usual.

The server does not import TensorFlow up front (its protocol messages come from
:mod:`tensorserve.protos.tfserving`): :func:`import_tensorflow_lazily_without_keras`
makes whichever code first imports it - a SavedModel, TFLite or twin loader, or a
Python servable - get it the lean way, so a server of ONNX and Python models never
pays for it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

EAGER_KERAS_IMPORT = "keras.src.optimizers"


def import_tensorflow_without_keras() -> None:
    """Import TensorFlow now, skipping its eager Keras import. Call before anything else
    imports TensorFlow (its protos included); afterwards it does nothing."""
    if "tensorflow" in sys.modules or EAGER_KERAS_IMPORT in sys.modules:
        return
    with _keras_import_blocked():
        import tensorflow  # noqa: F401


def import_tensorflow_lazily_without_keras(then: Callable[[], object] | None = None) -> None:
    """From now on, the first ``import tensorflow`` anywhere skips the eager Keras import
    (see the module's docstring), and calls ``then`` once TensorFlow is imported (the
    server freezes the garbage collector's view of TensorFlow's objects there, as it does
    after start-up: TensorFlow may come only with a version that appears later). Nothing
    is imported now; calling it twice, or after TensorFlow was imported, does nothing."""
    if "tensorflow" in sys.modules or any(isinstance(f, _LeanFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _LeanFinder(then))


@contextlib.contextmanager
def _keras_import_blocked() -> Iterator[None]:
    """A ``None`` entry makes importing the name raise ImportError before its parent
    packages load; TensorFlow catches that and carries on. Lifted on exit."""
    blocked = EAGER_KERAS_IMPORT not in sys.modules
    if blocked:
        sys.modules[EAGER_KERAS_IMPORT] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if blocked and sys.modules.get(EAGER_KERAS_IMPORT, "") is None:
            del sys.modules[EAGER_KERAS_IMPORT]


class _LeanFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the next finders would, with a loader that blocks the
    eager Keras import while TensorFlow's ``__init__`` runs; then leaves ``sys.meta_path``."""

    _lock = threading.Lock()

    def __init__(self, then: Callable[[], object] | None) -> None:
        self._then = then

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        with self._lock:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and EAGER_KERAS_IMPORT not in sys.modules:
            spec.loader = _KerasBlockingLoader(spec.loader, self._then)
        return spec


class _KerasBlockingLoader(importlib.abc.Loader):
    """``inner``, with the eager Keras import blocked while it executes the module."""

    def __init__(self, inner: Any, then: Callable[[], object] | None) -> None:
        self._inner = inner
        self._then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self._inner.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        with _keras_import_blocked():
            self._inner.exec_module(module)
        if self._then is not None:
            self._then()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_data, is_package...
        return getattr(self._inner, name)
