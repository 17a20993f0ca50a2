import json

import numpy as np

from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.v2.datatypes import BY_NAME
from tensorserve.v2.inference_request import InferenceRequest, InputTensor, RequestedOutput
from tensorserve.v2.inference_response import render_inference_response

SIGNATURE = Signature(
    "serving_default",
    PREDICT_METHOD,
    inputs={},
    outputs={
        "y": TensorInfo("y:0", DataType.DT_FLOAT, (-1,)),
        "s": TensorInfo("s:0", DataType.DT_STRING, (-1,)),
    },
)
OUTPUTS = {"y": np.array([[0.5, 1.5]], np.float32), "s": np.array([b"a", b"bc"], dtype=object)}
INPUT = InputTensor("x", BY_NAME["FP32"], (1,), data=[1.0])


def test_json_response_lists_outputs_in_name_order_with_flat_data() -> None:
    rendered = render_inference_response(
        InferenceRequest("r1", (INPUT,)), OUTPUTS, "m", 3, SIGNATURE
    )
    assert rendered.header_length is None
    assert json.loads(rendered.body) == {
        "model_name": "m",
        "model_version": "3",
        "id": "r1",
        "outputs": [
            {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a", "bc"]},
            {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]},
        ],
    }


def test_binary_outputs_follow_the_json_header() -> None:
    request = InferenceRequest(None, (INPUT,), binary_output=True)
    rendered = render_inference_response(request, OUTPUTS, "m", 1, SIGNATURE)
    assert rendered.header_length is not None
    header = json.loads(rendered.body[: rendered.header_length])
    assert "id" not in header
    s, y = header["outputs"]
    assert s["parameters"] == {"binary_data_size": 4 + 1 + 4 + 2} and "data" not in s
    assert y["parameters"] == {"binary_data_size": 8}
    assert rendered.body[rendered.header_length :] == (
        b"\x01\x00\x00\x00a\x02\x00\x00\x00bc" + np.array([0.5, 1.5], "<f4").tobytes()
    )


def test_requested_outputs_come_in_request_order_each_in_its_own_form() -> None:
    request = InferenceRequest(
        None, (INPUT,), outputs=(RequestedOutput("y", True), RequestedOutput("s", False))
    )
    rendered = render_inference_response(request, OUTPUTS, "m", 1, SIGNATURE)
    header = json.loads(rendered.body[: rendered.header_length])
    assert [o["name"] for o in header["outputs"]] == ["y", "s"]
    assert header["outputs"][1]["data"] == ["a", "bc"]
    assert len(rendered.body) == rendered.header_length + 8


def test_an_output_the_signature_does_not_describe_gets_its_arrays_datatype() -> None:
    rendered = render_inference_response(
        InferenceRequest(None, (INPUT,)), {"k": np.array([1, 2], np.int64)}, "m", 1, SIGNATURE
    )
    assert json.loads(rendered.body)["outputs"][0]["datatype"] == "INT64"


def test_non_finite_floats_are_written_as_tokens_json_only_or_beside_binary() -> None:
    outputs = {"y": np.array([np.nan, -np.inf], np.float32), "s": OUTPUTS["s"]}
    for request in (
        InferenceRequest(None, (INPUT,)),
        InferenceRequest(
            None, (INPUT,), outputs=(RequestedOutput("y", False), RequestedOutput("s", True))
        ),
    ):
        rendered = render_inference_response(request, outputs, "m", 1, SIGNATURE)
        end = rendered.header_length or len(rendered.body)
        assert b'"data":[NaN,-Infinity]' in rendered.body[:end]


def test_an_id_containing_null_is_kept() -> None:
    rendered = render_inference_response(
        InferenceRequest("null", (INPUT,)), OUTPUTS, "m", 1, SIGNATURE
    )
    assert json.loads(rendered.body)["id"] == "null"
