"""The Loader of one ``model.tflite`` version, and its pool of interpreters.

A TFLite interpreter is not thread-safe, so a model holds a small pool and a
call takes one for its duration. Inputs whose shape differs from the last
call's are resized first (TFLite models are converted with fixed batch 1).
"""

from __future__ import annotations

import logging
import os
import queue
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow.lite.python.interpreter import Interpreter

from tensorserve.core import errors
from tensorserve.core.loader import ResourceEstimate
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.array_model import ArrayModel, ArrayModelLoader

from .tflite_signatures import TfLiteSignature, tflite_signatures

PLATFORM = "tflite"
MODEL_FILENAME = "model.tflite"
DEFAULT_POOL_SIZE = 2
RAM_ESTIMATE_MULTIPLIER = 1.2

logger = logging.getLogger(__name__)


class InterpreterPool:
    """``size`` interpreters of one model; each call borrows one. Thread-safe."""

    def __init__(self, model_bytes: bytes, size: int) -> None:
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(max(size, 1)):
            with warnings.catch_warnings():
                # Its deprecation notice (LiteRT) is for users of the API, not a server log.
                warnings.simplefilter("ignore", UserWarning)
                interpreter = Interpreter(model_content=model_bytes)
            interpreter.allocate_tensors()
            self._idle.put(interpreter)

    def signatures(self, model_bytes: bytes) -> dict[str, TfLiteSignature]:
        """The model's signatures, read from one of the interpreters."""
        interpreter = self._idle.get()
        try:
            return tflite_signatures(interpreter, model_bytes)
        finally:
            self._idle.put(interpreter)

    def run(
        self,
        signature: TfLiteSignature,
        inputs: Mapping[str, np.ndarray],
        output_aliases: Sequence[str],
    ) -> dict[str, np.ndarray]:
        interpreter = self._idle.get()
        try:
            return _run(interpreter, signature, inputs, output_aliases)
        except errors.ServingError:
            raise
        except (ValueError, RuntimeError) as exc:
            raise errors.InvalidArgument(str(exc).strip().splitlines()[0]) from None
        finally:
            self._idle.put(interpreter)


def _run(
    interpreter: Any,
    signature: TfLiteSignature,
    inputs: Mapping[str, np.ndarray],
    output_aliases: Sequence[str],
) -> dict[str, np.ndarray]:
    if signature.runner_key is not None:
        runner = interpreter.get_signature_runner(signature.runner_key)
        outputs = runner(**{alias: _tflite_value(v) for alias, v in inputs.items()})
        return {alias: _from_tflite(outputs[alias]) for alias in output_aliases}
    resized = False
    current = {d["index"]: tuple(d["shape"]) for d in interpreter.get_input_details()}
    for alias, index in signature.input_indices.items():
        shape = inputs[alias].shape
        if current.get(index) != shape:
            interpreter.resize_tensor_input(index, list(shape), strict=False)
            resized = True
    if resized:
        interpreter.allocate_tensors()
    for alias, index in signature.input_indices.items():
        interpreter.set_tensor(index, _tflite_value(inputs[alias]))
    interpreter.invoke()
    return {
        alias: _from_tflite(interpreter.get_tensor(signature.output_indices[alias]))
        for alias in output_aliases
    }


def _tflite_value(value: np.ndarray) -> np.ndarray:
    """TFLite takes strings as a fixed-width bytes array, not Python objects."""
    if value.dtype != object:
        return value
    return np.array([bytes(v) for v in value.ravel()], dtype=np.bytes_).reshape(value.shape)


def _from_tflite(value: np.ndarray) -> np.ndarray:
    return value.astype(object) if value.dtype.kind == "S" else value


class TfLiteLoader(ArrayModelLoader):
    """Loads ``<version>/model.tflite``. The manager serialises ``load``/``unload``."""

    def __init__(
        self,
        servable_id: ServableId,
        path: str | os.PathLike[str],
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self.servable_id = servable_id
        self.path = Path(path)
        self.pool_size = pool_size
        self._model: ArrayModel | None = None

    def estimate_resources(self) -> ResourceEstimate:
        try:
            size = (self.path / MODEL_FILENAME).stat().st_size
        except OSError:
            size = 0
        return ResourceEstimate(ram_bytes=int(size * self.pool_size * RAM_ESTIMATE_MULTIPLIER))

    def load(self) -> None:
        """Build the interpreters and read the signatures. Raises DataLoss when TFLite
        rejects the file."""
        model_file = self.path / MODEL_FILENAME
        try:
            model_bytes = model_file.read_bytes()
        except OSError as exc:
            raise errors.NotFound(f"Could not read {model_file}: {exc.strerror}") from None
        try:
            pool = InterpreterPool(model_bytes, self.pool_size)
            found = pool.signatures(model_bytes)
        except errors.ServingError:
            raise
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise errors.DataLoss(
                f"TensorFlow Lite could not load {model_file}: {reason}"
            ) from None
        self._model = ArrayModel(
            PLATFORM,
            {name: s.signature for name, s in found.items()},
            {name: _runner(pool, s) for name, s in found.items()},
            close=[pool],
            # No more calls at once than interpreters: the rest wait in the model's lane,
            # not on a worker thread blocked in the pool's queue.
            calls_at_once=self.pool_size,
        )
        logger.info("Loaded TFLite servable version %s from %s", self.servable_id, self.path)


def _runner(pool: InterpreterPool, signature: TfLiteSignature) -> Any:
    def run(
        inputs: Mapping[str, np.ndarray], output_aliases: Sequence[str]
    ) -> dict[str, np.ndarray]:
        return pool.run(signature, inputs, output_aliases)

    return run
