"""Seldon MLServer baseline: a custom runtime that serves a SavedModel.

Runs inside ``benchmarks/.venv-mlserver`` (MLServer's pins conflict with
tensorserve's), loaded by MLServer from ``model-settings.json`` as
``runtime.SavedModelRuntime`` with this folder on ``PYTHONPATH``. Requests use
the Open Inference (V2) protocol; every input is decoded with MLServer's
``NumpyCodec`` and fed by name to the ``serving_default`` signature.

MLServer calls ``predict`` from one asyncio loop per worker process; the model
call blocks that loop, as MLServer's own scikit-learn runtime does.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class SavedModelRuntime(MLModel):  # type: ignore[misc]
    """Serves the SavedModel at the model settings' ``parameters.uri``."""

    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        self._loaded: Any = tf.saved_model.load(uri)
        self._serve: Any = self._loaded.signatures["serving_default"]
        _, specs = self._serve.structured_input_signature
        self._dtypes = {name: spec.dtype for name, spec in specs.items()}
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inputs = {
            request_input.name: tf.constant(
                NumpyCodec.decode_input(request_input), dtype=self._dtypes[request_input.name]
            )
            for request_input in payload.inputs
        }
        outputs = self._serve(**inputs)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[
                NumpyCodec.encode_output(name, value.numpy()) for name, value in outputs.items()
            ],
        )
