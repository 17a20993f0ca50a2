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

The lean way also defers TensorFlow's public API. ``tensorflow/__init__.py`` imports
the whole ``tf.*`` tree (about 2,400 modules, 1.7 s and ~120 MB resident here), while
the server's models run on the ~150 modules of the session runtime, which it imports
from where they are defined (:mod:`tensorserve.platforms.tensorflow.runtime`). So the
first ``import tensorflow`` makes the package and loads the session runtime, as
``__init__`` would have (TF2 behaviour on, plugin kernels loaded), and runs
``__init__`` itself only when code first reads an attribute the package does not have
yet (``tf.constant``, ``tf.__version__``, ``from tensorflow import keras``): a Python
servable or any library that uses ``tf.*`` gets all of TensorFlow, the moment it asks.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

EAGER_KERAS_IMPORT = "keras.src.optimizers"
SESSION_RUNTIME = (
    "tensorflow.python.client.pywrap_tf_session",
    "tensorflow.python.framework.errors_impl",
    "tensorflow.python.lib.io.tf_record",
)
"""What a deferred ``import tensorflow`` loads at once, before the collector freezes its
objects: the modules ``platforms/tensorflow/runtime.py`` imports."""


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
            spec.loader = _DeferredApiLoader(spec.loader, self._then)
        return spec


class _DeferredApiLoader(importlib.abc.Loader):
    """Makes the ``tensorflow`` package and its session runtime now, and runs ``inner``
    (``tensorflow/__init__.py``) with the eager Keras import blocked on the first read
    of an attribute the package lacks."""

    def __init__(self, inner: Any, then: Callable[[], object] | None) -> None:
        self._inner = inner
        self._then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return _DeferredApiPackage(spec.name, self._complete)

    def exec_module(self, module: types.ModuleType) -> None:
        # What tensorflow/__init__.py does before its API, for the runtime's sake.
        os.environ["TF2_BEHAVIOR"] = "1"
        from tensorflow.python import tf2

        tf2.enable()
        _load_plugin_kernels(Path(module.__file__ or "").parent)
        for name in SESSION_RUNTIME:
            importlib.import_module(name)
        if self._then is not None:
            self._then()

    def _complete(self, module: types.ModuleType) -> None:
        with _keras_import_blocked():
            self._inner.exec_module(module)
        if self._then is not None:
            self._then()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_data, is_package...
        return getattr(self._inner, name)


_IMPORT_SYSTEM_NAMES = frozenset(
    ("__path__", "__file__", "__cached__", "__loader__", "__spec__", "__package__", "__builtins__")
)


class _DeferredApiPackage(types.ModuleType):
    """The ``tensorflow`` package before its ``__init__`` ran: submodules import as
    usual (``__path__`` is set); reading a name it lacks runs ``__init__`` into it once,
    then it is a plain module. Names read while ``__init__`` runs, on its own thread,
    behave as on any module being initialised."""

    _lock = threading.RLock()

    def __init__(self, name: str, complete: Callable[[types.ModuleType], None]) -> None:
        super().__init__(name)
        object.__setattr__(self, "_tensorserve_complete", complete)

    def __getattr__(self, name: str) -> Any:
        if name in _IMPORT_SYSTEM_NAMES:  # probed while the package is being made
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        with self._lock:
            if type(self) is _DeferredApiPackage:
                complete = self.__dict__.pop("_tensorserve_complete", None)
                if complete is None:  # __init__ is running on this thread
                    raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
                try:
                    complete(self)
                except BaseException:
                    object.__setattr__(self, "_tensorserve_complete", complete)
                    raise
                self.__class__ = types.ModuleType  # type: ignore[assignment]
        return getattr(self, name)


def _load_plugin_kernels(package_dir: Path) -> None:
    """Kernel and device plugins, found as ``tensorflow/__init__.py`` finds them when
    installed by pip: ``core/kernels`` beside the package and ``tensorflow-plugins`` in
    site-packages, and ``TF_PLUGGABLE_DEVICE_LIBRARY_PATH``."""
    from tensorflow.python.framework import load_library

    site_packages = {Path(p) for p in sys.path if "site-packages" in p}
    if any(package_dir.is_relative_to(d) for d in site_packages):
        if (package_dir / "core" / "kernels").exists():
            load_library.load_library(str(package_dir / "core" / "kernels"))
        for plugins in sorted(d / "tensorflow-plugins" for d in site_packages):
            if plugins.exists():
                load_library.load_library(str(plugins))
                load_library.load_pluggable_device_library(str(plugins))
    if os.getenv("TF_PLUGGABLE_DEVICE_LIBRARY_PATH", ""):
        load_library.load_pluggable_device_library(os.environ["TF_PLUGGABLE_DEVICE_LIBRARY_PATH"])
