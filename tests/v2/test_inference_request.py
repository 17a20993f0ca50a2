import json
import struct

import numpy as np
import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.v2.inference_request import (
    InferenceRequest,
    decode_inputs,
    parse_inference_request,
    requested_names,
)

SIGNATURE = Signature(
    "serving_default",
    PREDICT_METHOD,
    inputs={
        "x": TensorInfo("x:0", DataType.DT_FLOAT, (-1, 2)),
        "s": TensorInfo("s:0", DataType.DT_STRING, None),
    },
    outputs={
        "y": TensorInfo("y:0", DataType.DT_FLOAT, (-1,)),
        "z": TensorInfo("z:0", DataType.DT_INT64, (-1,)),
    },
)


def body(document: dict, *blobs: bytes) -> tuple[bytes, bytes | None]:
    header = json.dumps(document).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), str(len(header)).encode()


def parse(document: dict, *blobs: bytes) -> InferenceRequest:
    return parse_inference_request(*body(document, *blobs))


def x_json(data: object = (1, 2, 3, 4), shape: tuple = (2, 2)) -> dict:
    return {"name": "x", "datatype": "FP32", "shape": list(shape), "data": list(data)}


S_JSON = {"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]}


def test_json_request_decodes_against_the_signature() -> None:
    request = parse({"id": "7", "inputs": [x_json(), S_JSON]})
    assert request.id == "7" and request.outputs == () and not request.binary_output
    arrays = decode_inputs(request, SIGNATURE, "m")
    np.testing.assert_array_equal(arrays["x"], np.array([[1, 2], [3, 4]], np.float32))
    assert arrays["s"].tolist() == [b"hi"]


def test_binary_inputs_come_from_the_blobs_in_order() -> None:
    floats = np.arange(4, dtype="<f4").tobytes()
    strings = struct.pack("<I", 2) + b"hi"
    request = parse(
        {
            "inputs": [
                {
                    "name": "s",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": len(strings)},
                },
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [2, 2],
                    "parameters": {"binary_data_size": 16},
                },
            ],
            "parameters": {"binary_data_output": True},
        },
        strings,
        floats,
    )
    arrays = decode_inputs(request, SIGNATURE, "m")
    assert arrays["x"].tolist() == [[0, 1], [2, 3]] and arrays["s"].tolist() == [b"hi"]
    assert request.binary_output and request.output_binary("y")


def test_binary_sizes_that_do_not_add_up_are_refused() -> None:
    document = {"inputs": [{**x_json(), "data": None, "parameters": {"binary_data_size": 16}}]}
    del document["inputs"][0]["data"]
    with pytest.raises(InvalidArgument, match="unexpected end of binary data"):
        parse(document, b"\x00" * 8)
    with pytest.raises(InvalidArgument, match="8 bytes of binary data"):
        parse(document, b"\x00" * 24)


def test_per_output_binary_data_overrides_the_request_default() -> None:
    request = parse(
        {
            "inputs": [x_json(), S_JSON],
            "outputs": [{"name": "z", "parameters": {"binary_data": False}}, {"name": "y"}],
            "parameters": {"binary_data_output": True},
        }
    )
    assert requested_names(request) == ("z", "y")
    assert not request.output_binary("z") and request.output_binary("y")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "non-empty 'inputs'"),
        ({"inputs": []}, "non-empty 'inputs'"),
        ({"inputs": [1]}, "must be a JSON object"),
        ({"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}, "string 'name'"),
        ({"inputs": [{**x_json(), "datatype": "FLOAT"}]}, "invalid datatype 'FLOAT'"),
        ({"inputs": [{**x_json(), "shape": [2, "2"]}]}, "array of integers"),
        ({"inputs": [{**x_json(), "shape": [-2, 2]}]}, "negative dimension"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}, "neither 'data'"),
        ({"inputs": [x_json(), x_json()]}, "more than once"),
        ({"inputs": [x_json()], "outputs": [{"name": "y"}, {"name": "y"}]}, "more than once"),
        ({"id": 5, "inputs": [x_json()]}, "'id' must be a string"),
        ({"inputs": [x_json()], "parameters": {"triton_x": 1}}, "reserved"),
        ({"inputs": [x_json()], "parameters": {"binary_data_output": "yes"}}, "boolean"),
        ({"inputs": [x_json()], "parameters": {"signature_name": 1}}, "must be a string"),
        ({"inputs": [x_json()], "parameters": []}, "must be a JSON object"),
        ({"inputs": [x_json()], "outputs": [{"name": 1}]}, "string 'name'"),
        (
            {"inputs": [x_json()], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]},
            "boolean",
        ),
        (
            {"inputs": [x_json()], "outputs": [{"name": "y", "parameters": {"classification": 2}}]},
            "classification",
        ),
        ({"inputs": [{**x_json(), "parameters": {"shared_memory_region": "r"}}]}, "shared memory"),
    ],
)
def test_malformed_envelopes_are_client_errors(document: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_inference_request(json.dumps(document).encode(), None)


@pytest.mark.parametrize("text", [b"", b"{", b'{"inputs": [', b"not json"])
def test_malformed_json_is_a_client_error(text: bytes) -> None:
    with pytest.raises(InvalidArgument, match="JSON Parse error"):
        parse_inference_request(text, None)


def test_nan_tokens_as_tritonclient_sends_them_are_accepted() -> None:
    text = (
        b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[NaN,-Infinity]},'
        b'{"name":"s","datatype":"BYTES","shape":[1],"data":["a"]}],'
        b'"parameters":{"binary_data_output":false}}'
    )
    array = decode_inputs(parse_inference_request(text, None), SIGNATURE, "m")["x"]
    assert np.isnan(array[0, 0]) and array[0, 1] == -np.inf


def test_timeout_parameter_is_microseconds() -> None:
    assert parse({"inputs": [x_json()], "parameters": {"timeout": 2_500_000}}).timeout_s == 2.5


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        (
            [x_json(), S_JSON, {**S_JSON, "name": "w"}],
            [],
            "unexpected inference input 'w' for model 'm'",
        ),
        ([x_json()], [], "expected 2 inputs but got 1 inputs for model 'm': missing 's'"),
        (
            [{**x_json(), "datatype": "INT32", "data": [1, 2, 3, 4]}, S_JSON],
            [],
            "data-type is 'INT32', but model 'm' expects 'FP32'",
        ),
        (
            [x_json((1, 2, 3), (3,)), S_JSON],
            [],
            r"unexpected shape for input 'x' for model 'm'. Expected \[-1, 2\], got \[3\]",
        ),
        ([x_json((1, 2, 3), (2, 2)), S_JSON], [], "unexpected number of elements 3"),
        (
            [x_json(), S_JSON],
            [{"name": "nope"}],
            "unexpected inference output 'nope' for model 'm'",
        ),
    ],
)
def test_inputs_are_checked_against_the_signature(
    inputs: list, outputs: list, message: str
) -> None:
    request = parse({"inputs": inputs, "outputs": outputs})
    with pytest.raises(InvalidArgument, match=message):
        decode_inputs(request, SIGNATURE, "m")


def test_an_input_of_unknown_rank_takes_any_shape() -> None:
    request = parse({"inputs": [x_json(), {**S_JSON, "shape": [1, 1, 1]}]})
    assert decode_inputs(request, SIGNATURE, "m")["s"].shape == (1, 1, 1)


def test_an_input_with_a_default_may_be_left_out() -> None:
    with_default = Signature(
        "serving_default",
        PREDICT_METHOD,
        inputs=SIGNATURE.inputs,
        outputs=SIGNATURE.outputs,
        defaults={"s": np.array([b"d"], dtype=object)},
    )
    assert set(decode_inputs(parse({"inputs": [x_json()]}), with_default, "m")) == {"x"}
