"""The "write your own web service" baseline: Flask + ``tf.saved_model.load``.

What a team typically writes instead of a model server: load the SavedModel,
expose TensorFlow Serving's row-format predict URL, convert JSON to a tensor and
back. Run under gunicorn, one model copy per worker process::

    BENCH_MODEL_NAME=half_plus_two BENCH_MODEL_PATH=/path/to/version/dir \\
        gunicorn -w 2 --chdir benchmarks/baselines 'flask_app:create_app()'

Each worker handles one request at a time (gunicorn's sync worker), so the app
needs no locking.
"""

from __future__ import annotations

import os
from typing import Any

import flask
import numpy as np
import tensorflow as tf


def create_app(model_name: str | None = None, model_path: str | None = None) -> flask.Flask:
    """An app serving the SavedModel at ``model_path`` (default: env ``BENCH_MODEL_PATH``)
    as ``model_name`` (env ``BENCH_MODEL_NAME``). Loads the model now (seconds)."""
    name = model_name or os.environ["BENCH_MODEL_NAME"]
    loaded = tf.saved_model.load(model_path or os.environ["BENCH_MODEL_PATH"])
    serve = loaded.signatures["serving_default"]
    _, input_specs = serve.structured_input_signature
    input_name = next(iter(input_specs))
    input_dtype = input_specs[input_name].dtype

    app = flask.Flask(__name__)

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    @app.post(f"/v1/models/{name}:predict")
    def predict() -> Any:
        instances = flask.request.get_json(force=True)["instances"]
        inputs = tf.constant(np.asarray(instances), dtype=input_dtype)
        outputs = serve(**{input_name: inputs})
        if len(outputs) == 1:
            predictions: Any = next(iter(outputs.values())).numpy().tolist()
        else:
            columns = {key: value.numpy().tolist() for key, value in outputs.items()}
            predictions = [
                dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)
            ]
        return flask.jsonify({"predictions": predictions})

    return app
