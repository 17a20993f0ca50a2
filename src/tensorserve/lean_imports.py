"""Import TensorFlow without the Keras (and scikit-learn) it imports eagerly.

``import tensorflow`` (2.16+) ends with ``importlib.import_module("keras.src.optimizers")``
inside ``try/except ImportError``, only so that Keras' optimizers register for
``tf.saved_model.load`` of Keras models. That one line imports all of Keras, which
imports scikit-learn, SciPy and pandas: about 1.4 s of the import and ~100 MB resident
here. The server loads SavedModels with TensorFlow's v1 loader and never uses Keras, so
``serve`` blocks that one import while TensorFlow initialises, then lifts the block so a
later ``import keras`` (the export tool, a test) works as usual.
"""

from __future__ import annotations

import sys

EAGER_KERAS_IMPORT = "keras.src.optimizers"


def import_tensorflow_without_keras() -> None:
    """Import TensorFlow now, skipping its eager Keras import. Call before anything else
    imports TensorFlow (its protos included); afterwards it does nothing."""
    if "tensorflow" in sys.modules or EAGER_KERAS_IMPORT in sys.modules:
        return
    # A None entry makes importing the name raise ImportError before its parent
    # packages load; TensorFlow catches that and carries on.
    sys.modules[EAGER_KERAS_IMPORT] = None  # type: ignore[assignment]
    try:
        import tensorflow  # noqa: F401
    finally:
        if sys.modules.get(EAGER_KERAS_IMPORT, "") is None:
            del sys.modules[EAGER_KERAS_IMPORT]
