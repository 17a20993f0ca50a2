"""Predict outputs to the response JSON: ``predictions`` for row requests, ``outputs`` for
columnar ones (``MakeJsonFromTensors``). Outputs are written in name order.

Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.predict_request import RequestFormat
from tensorserve.rest.tensor_json import dumps, tensor_json, tensor_rows


def render_predict_response(
    outputs: Mapping[str, np.ndarray], request_format: RequestFormat
) -> bytes:
    """The response body for ``outputs`` in the format of the request."""
    if not outputs:
        raise InvalidArgument("Cannot convert empty tensor map to JSON")
    if request_format is RequestFormat.ROW:
        return render_predictions(outputs)
    return render_outputs(outputs)


def render_predictions(outputs: Mapping[str, np.ndarray]) -> bytes:
    """``{"predictions": [...]}``: one entry per batch row; several outputs give objects."""
    names = sorted(outputs)
    batch_size = -1
    for name in names:
        shape = np.shape(outputs[name])
        if not shape:
            raise InvalidArgument(f"Tensor name: {name} has no shape information ")
        if batch_size >= 0 and shape[0] != batch_size:
            raise InvalidArgument(
                f"Tensor name: {name} has inconsistent batch size: {shape[0]} "
                f"expecting: {batch_size}"
            )
        batch_size = shape[0]
    if len(names) == 1:
        (name,) = names
        return dumps({"predictions": tensor_json(np.asarray(outputs[name]), name)})
    columns = [tensor_rows(np.asarray(outputs[name]), name) for name in names]
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    return dumps({"predictions": rows})


def render_outputs(outputs: Mapping[str, np.ndarray]) -> bytes:
    """``{"outputs": tensor}`` for one output, ``{"outputs": {name: tensor}}`` for several."""
    names = sorted(outputs)
    if len(names) == 1:
        (name,) = names
        return dumps({"outputs": tensor_json(np.asarray(outputs[name]), name)})
    tensors = {name: tensor_json(np.asarray(outputs[name]), name) for name in names}
    return dumps({"outputs": tensors})
