"""Model outputs to a V2 ``$inference_response`` body, JSON or JSON + binary (OIP spec §3.5, §4).

Outputs come in the order the request listed them, or in name order when it
listed none. Each output's datatype is its signature's (so it matches the
model metadata), or the array's own for an output the signature does not
describe. An output goes in the binary section when its ``binary_data``
parameter, or else the request's ``binary_data_output``, says so; then the
body is ``application/octet-stream`` and :class:`RenderedResponse` carries the
JSON part's length for ``Inference-Header-Content-Length``.

Pure and thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import orjson

from tensorserve.servables.signature import Signature
from tensorserve.v2.binary_extension import join_body
from tensorserve.v2.datatypes import BY_DTYPE, Datatype, for_array
from tensorserve.v2.inference_request import InferenceRequest
from tensorserve.v2.json_tensors import json_data
from tensorserve.v2.raw_tensors import encode_raw


@dataclasses.dataclass(frozen=True, slots=True)
class RenderedResponse:
    body: bytes
    header_length: int | None = None
    """The JSON part's length when binary outputs follow it; None for a JSON-only body."""


def render_inference_response(
    request: InferenceRequest,
    outputs: Mapping[str, np.ndarray],
    model_name: str,
    version: int,
    signature: Signature | None,
) -> RenderedResponse:
    """The response body for ``outputs`` of ``model_name`` version ``version``."""
    rendered = _render(request, outputs, model_name, version, signature, exact=False)
    json_end = len(rendered.body) if rendered.header_length is None else rendered.header_length
    if rendered.body.find(b"null", 0, json_end) >= 0:
        # A float output may hold NaN or an infinity, which the quick path wrote as null
        # (a name or id containing "null" only costs the exact path).
        rendered = _render(request, outputs, model_name, version, signature, exact=True)
    return rendered


def _render(
    request: InferenceRequest,
    outputs: Mapping[str, np.ndarray],
    model_name: str,
    version: int,
    signature: Signature | None,
    *,
    exact: bool,
) -> RenderedResponse:
    names = [o.name for o in request.outputs] if request.outputs else sorted(outputs)
    rendered: list[dict[str, object]] = []
    blobs: list[bytes | memoryview] = []
    for name in names:
        array = np.asarray(outputs[name])
        datatype = _datatype(array, name, signature)
        entry: dict[str, object] = {
            "name": name,
            "datatype": datatype.name,
            "shape": list(array.shape),
        }
        if request.output_binary(name):
            blob = encode_raw(array, datatype)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = json_data(array, datatype, name, exact=exact)
        rendered.append(entry)
    document: dict[str, object] = {"model_name": model_name, "model_version": str(version)}
    if request.id is not None:
        document["id"] = request.id
    document["outputs"] = rendered
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return RenderedResponse(header)
    body, header_length = join_body(header, blobs)
    return RenderedResponse(body, header_length)


def _datatype(array: np.ndarray, name: str, signature: Signature | None) -> Datatype:
    info = signature.outputs.get(name) if signature is not None else None
    if info is not None:
        datatype = BY_DTYPE.get(info.dtype)
        if datatype is not None:
            return datatype
    return for_array(array, name)
