"""Which runtime serves a TensorFlow-platform version directory, decided by its files.

TensorFlow Serving serves ``model.tflite`` instead of the SavedModel when
``--prefer_tflite_model`` is set; tensorserve does the same, and serves a
directory holding ``model.onnx`` and no ``saved_model.pb`` with ONNX Runtime,
so an ONNX model needs no ``model_platform`` in the config. Imports no runtime.
"""

from __future__ import annotations

from pathlib import Path

from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.onnx.options import MODEL_FILENAME as ONNX_MODEL_FILENAME
from tensorserve.platforms.onnx.options import OnnxOptions

SAVED_MODEL_FILENAMES = ("saved_model.pb", "saved_model.pbtxt")
TFLITE_MODEL_FILENAME = "model.tflite"


def other_runtime_loader(
    servable_id: ServableId,
    path: Path,
    *,
    onnx_options: OnnxOptions,
    prefer_tflite: bool,
    tflite_pool_size: int = 2,
) -> Loader | None:
    """The TFLite or ONNX loader for ``path``, or None when the SavedModel loader serves it."""
    if prefer_tflite and (path / TFLITE_MODEL_FILENAME).is_file():
        from tensorserve.platforms.tflite.tflite_loader import TfLiteLoader

        return TfLiteLoader(servable_id, path, tflite_pool_size)
    has_saved_model = any((path / name).is_file() for name in SAVED_MODEL_FILENAMES)
    if not has_saved_model and (path / ONNX_MODEL_FILENAME).is_file():
        from tensorserve.platforms.onnx.onnx_loader import OnnxLoader

        return OnnxLoader(servable_id, path, onnx_options)
    return None
