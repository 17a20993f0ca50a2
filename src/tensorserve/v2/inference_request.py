"""A V2 inference request body to a checked :class:`InferenceRequest` (OIP spec §3.5, §3.6, §4).

Parsing checks the envelope only (types, names, shapes, the binary section's
sizes); tensor values are converted later by :func:`decode_inputs`, once the
data plane has resolved the signature, so that costly part can run on the
worker pool. No Content-Type is required: ``tritonclient.http`` sends none.

Request parameters: ``binary_data_output`` (bool) asks for every output in
binary; ``signature_name`` (string, ours) picks a signature other than
``serving_default``; ``timeout`` (integer microseconds, Triton's unit) bounds
the model run; keys starting with ``triton_`` are reserved and refused, as
Triton does; other keys are accepted and ignored.

Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.signature import Signature
from tensorserve.v2.binary_extension import BlobReader, split_body
from tensorserve.v2.datatypes import Datatype, parse_datatype
from tensorserve.v2.input_checks import check_inputs, check_outputs
from tensorserve.v2.json_number_data import parse_request_header
from tensorserve.v2.json_tensors import decode_json_data
from tensorserve.v2.raw_tensors import decode_raw, element_count

_SHARED_MEMORY = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")


class InputTensor(NamedTuple):
    """One input: JSON ``data`` or a ``raw`` blob from the binary section, not yet decoded.

    NamedTuples, as the data plane's own per-request records: immutable, and half the
    cost of a frozen dataclass to build (about 0.4 µs against 0.8, each request).
    """

    name: str
    datatype: Datatype
    shape: tuple[int, ...]
    data: Any = None
    raw: memoryview | None = None


class RequestedOutput(NamedTuple):
    name: str
    binary: bool | None = None
    """``binary_data`` of this output; None = the request's ``binary_data_output``."""


class InferenceRequest(NamedTuple):
    """A parsed ``$inference_request``."""

    id: str | None
    inputs: tuple[InputTensor, ...]
    outputs: tuple[RequestedOutput, ...] = ()
    """Empty: every output of the signature."""
    binary_output: bool = False
    signature_name: str = ""
    timeout_s: float | None = None
    may_hold_bools: bool = True
    """Whether the JSON text contains ``true``/``false`` at all (see json_tensors)."""

    def output_binary(self, name: str) -> bool:
        """Whether output ``name`` goes in the binary section."""
        for output in self.outputs:
            if output.name == name and output.binary is not None:
                return output.binary
        return self.binary_output


def parse_inference_request(body: bytes, header_length: bytes | None) -> InferenceRequest:
    """The request ``body`` holds; ``header_length`` is ``Inference-Header-Content-Length``."""
    header, binary = split_body(body, header_length)
    document = parse_request_header(header)
    if not isinstance(document, dict):
        raise InvalidArgument("the inference request must be a JSON object")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("the request 'id' must be a string")
    parameters = _parameters(document.get("parameters"), "the request")
    blobs = BlobReader(binary)
    inputs = _inputs(document.get("inputs"), blobs)
    blobs.finish()
    binary_output, signature_name, timeout_s = False, "", None
    if parameters:
        binary_output, signature_name, timeout_s = _request_options(parameters)
    return InferenceRequest(
        request_id,
        inputs,
        _outputs(document.get("outputs")),
        binary_output,
        signature_name,
        timeout_s,
        b"true" in header or b"false" in header,
    )


def _request_options(parameters: Mapping[str, Any]) -> tuple[bool, str, float | None]:
    """``binary_data_output``, ``signature_name`` and ``timeout`` (in seconds), checked."""
    binary_output = parameters.get("binary_data_output", False)
    signature_name = parameters.get("signature_name", "")
    timeout_us = parameters.get("timeout")
    if not isinstance(binary_output, bool):
        raise InvalidArgument("the parameter 'binary_data_output' must be a boolean")
    if not isinstance(signature_name, str):
        raise InvalidArgument("the parameter 'signature_name' must be a string")
    if timeout_us is not None and (type(timeout_us) is not int or timeout_us < 0):
        raise InvalidArgument("the parameter 'timeout' must be a non-negative integer (µs)")
    return binary_output, signature_name, timeout_us / 1e6 if timeout_us else None


def decode_inputs(
    request: InferenceRequest, signature: Signature, model_name: str
) -> dict[str, np.ndarray]:
    """The model inputs, checked against ``signature`` (names, datatypes, shapes: the
    checks and texts V2 gRPC shares, ``input_checks``), then their data read.

    Also refuses requested outputs the signature does not have, before the model runs.
    """
    if request.outputs:
        check_outputs(model_name, signature, [output.name for output in request.outputs])
    check_inputs(model_name, signature, request.inputs)
    arrays: dict[str, np.ndarray] = {}
    for tensor in request.inputs:
        if tensor.raw is not None:
            arrays[tensor.name] = decode_raw(tensor.raw, tensor.datatype, tensor.shape, tensor.name)
        else:
            arrays[tensor.name] = decode_json_data(
                tensor.data,
                tensor.datatype,
                tensor.shape,
                tensor.name,
                may_hold_bools=request.may_hold_bools,
            )
    return arrays


def _inputs(value: Any, blobs: BlobReader) -> tuple[InputTensor, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidArgument("the inference request must have a non-empty 'inputs' array")
    inputs: list[InputTensor] = []
    seen: set[str] = set()
    for entry in value:
        tensor = _input(entry, blobs)
        if tensor.name in seen:
            raise InvalidArgument(f"input '{tensor.name}' appears more than once")
        seen.add(tensor.name)
        inputs.append(tensor)
    return tuple(inputs)


def _input(entry: Any, blobs: BlobReader) -> InputTensor:
    if not isinstance(entry, dict):
        raise InvalidArgument("each of 'inputs' must be a JSON object")
    name = entry.get("name")
    if not isinstance(name, str):
        raise InvalidArgument("each input must have a string 'name'")
    datatype_name = entry.get("datatype")
    if not isinstance(datatype_name, str):
        raise InvalidArgument(f"input '{name}' must have a string 'datatype'")
    datatype = parse_datatype(datatype_name, name)
    shape = _shape(entry.get("shape"), name)
    parameters = entry.get("parameters")
    size = None
    if parameters is not None:
        size = _parameters(parameters, f"input '{name}'").get("binary_data_size")
    if size is None:
        if "data" not in entry:
            raise InvalidArgument(
                f"input '{name}' has neither 'data' nor a 'binary_data_size' parameter"
            )
        return InputTensor(name, datatype, shape, data=entry["data"])
    if type(size) is not int or size < 0:
        raise InvalidArgument(
            f"'binary_data_size' of input '{name}' must be a non-negative integer"
        )
    if "data" in entry:
        raise InvalidArgument(f"input '{name}' has both 'data' and 'binary_data_size'")
    return InputTensor(name, datatype, shape, raw=blobs.take(size, name))


def _shape(value: Any, tensor: str) -> tuple[int, ...]:
    if type(value) is list:
        for dim in value:
            if type(dim) is not int:  # bool is a subclass of int, so not isinstance
                break
        else:
            shape = tuple(value)
            element_count(shape, tensor)  # negative or absurd dims
            return shape
    raise InvalidArgument(f"the 'shape' of input '{tensor}' must be an array of integers")


def _parameters(value: Any, owner: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"'parameters' of {owner} must be a JSON object")
    for key, item in value.items():
        if key.startswith("triton_"):
            raise InvalidArgument(
                f"parameter keys starting with 'triton_' are reserved; '{key}' in {owner}"
            )
        if key in _SHARED_MEMORY:
            raise InvalidArgument(f"shared memory is not supported ('{key}' in {owner})")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise InvalidArgument(
                f"parameter '{key}' of {owner} must be a string, number or boolean"
            )
    return value


def _outputs(value: Any) -> tuple[RequestedOutput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidArgument("'outputs' must be an array")
    outputs: list[RequestedOutput] = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InvalidArgument("each of 'outputs' must be an object with a string 'name'")
        name = entry["name"]
        parameters = _parameters(entry.get("parameters"), f"output '{name}'")
        if "classification" in parameters:
            raise InvalidArgument("the classification extension is not supported")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise InvalidArgument(f"'binary_data' of output '{name}' must be a boolean")
        if any(output.name == name for output in outputs):
            raise InvalidArgument(f"output '{name}' is requested more than once")
        outputs.append(RequestedOutput(name, binary))
    return tuple(outputs)


def requested_names(request: InferenceRequest) -> Sequence[str]:
    """The output filter to hand the data plane (empty = every output)."""
    if not request.outputs:
        return ()
    return tuple(output.name for output in request.outputs)
