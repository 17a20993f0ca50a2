"""ModelInferRequest inputs to arrays and arrays to a raw ModelInferResponse, read back
the way ``tritonclient.grpc`` reads them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tritonclient.grpc import InferInput, InferRequestedOutput, InferResult, service_pb2
from tritonclient.grpc._utils import _get_inference_request

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.v2.grpc_tensors import (
    infer_response,
    input_bytes,
    inputs_decoder,
    serialized_infer_response,
)

TYPES = {
    "f": (DataType.DT_FLOAT, "FP32", np.float32),
    "i": (DataType.DT_INT32, "INT32", np.int32),
    "l": (DataType.DT_INT64, "INT64", np.int64),
    "b": (DataType.DT_BOOL, "BOOL", np.bool_),
    "s": (DataType.DT_STRING, "BYTES", np.object_),
    "h": (DataType.DT_HALF, "FP16", np.float16),
    "u8": (DataType.DT_UINT8, "UINT8", np.uint8),
}
SIGNATURE = Signature(
    "serving_default",
    PREDICT_METHOD,
    inputs={name: TensorInfo(f"{name}:0", dtype, None) for name, (dtype, _, _) in TYPES.items()},
    outputs={},
    # Defaults for every input let each test send only the inputs it is about.
    defaults={name: np.zeros(0, numpy) for name, (_, _, numpy) in TYPES.items()},
)
ARRAYS = {
    "f": np.array([[1.5, -2.0, 3.25]], np.float32),
    "i": np.array([1, -2, 2**31 - 1], np.int32),
    "l": np.array([[2**62], [-(2**62)]], np.int64),
    "b": np.array([True, False, True]),
    "s": np.array([b"ab", b"", "é".encode(), b"\xff\x00"], dtype=object),
    "h": np.array([0.5, -1.0], np.float16),
    "u8": np.array([0, 255], np.uint8),
}


def client_request(*names: str, outputs: tuple[str, ...] = ()) -> Any:
    """The request tritonclient.grpc builds for ``ARRAYS[name]`` (always raw)."""
    inputs = []
    for name in names:
        tensor = InferInput(name, list(ARRAYS[name].shape), TYPES[name][1])
        tensor.set_data_from_numpy(ARRAYS[name])
        inputs.append(tensor)
    requested = [InferRequestedOutput(name) for name in outputs] or None
    return _get_inference_request(
        model_name="m",
        inputs=inputs,
        model_version="",
        request_id="r1",
        outputs=requested,
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        parameters=None,
    )


def decode(request: Any) -> dict[str, np.ndarray]:
    return dict(inputs_decoder(request, "m")(SIGNATURE))


@pytest.mark.parametrize("name", list(TYPES))
def test_raw_inputs_from_tritonclient_decode_to_the_arrays_sent(name: str) -> None:
    decoded = decode(client_request(name))
    assert list(decoded) == [name]
    assert decoded[name].dtype == ARRAYS[name].dtype
    np.testing.assert_array_equal(decoded[name], ARRAYS[name])


def test_typed_contents_decode_too() -> None:
    request = service_pb2.ModelInferRequest(model_name="m")
    for name, field, values in [
        ("f", "fp32_contents", [1.5, 2.5]),
        ("i", "int_contents", [7, -7]),
        ("l", "int64_contents", [2**40, 1]),
        ("b", "bool_contents", [True, False]),
        ("s", "bytes_contents", [b"x", b"yz"]),
        ("u8", "uint_contents", [0, 255]),
    ]:
        tensor = request.inputs.add(name=name, datatype=TYPES[name][1], shape=[2, 1])
        getattr(tensor.contents, field).extend(values)
    decoded = decode(request)
    assert decoded["f"].tolist() == [[1.5], [2.5]]
    assert decoded["i"].dtype == np.int32
    assert decoded["l"].ravel().tolist() == [2**40, 1]
    assert decoded["b"].ravel().tolist() == [True, False]
    assert decoded["s"].ravel().tolist() == [b"x", b"yz"]
    assert decoded["u8"].dtype == np.uint8


def test_a_typed_value_out_of_its_datatypes_range_is_refused() -> None:
    request = service_pb2.ModelInferRequest(model_name="m")
    request.inputs.add(name="u8", datatype="UINT8", shape=[2]).contents.uint_contents.extend(
        [1, 300]
    )
    with pytest.raises(InvalidArgument, match=r"'u8' is out of the range of UINT8 \[0, 255\]"):
        decode(request)


def test_typed_contents_must_hold_one_value_per_element() -> None:
    request = service_pb2.ModelInferRequest(model_name="m")
    request.inputs.add(name="f", datatype="FP32", shape=[2, 2]).contents.fp32_contents.extend([1])
    with pytest.raises(InvalidArgument, match="expected 4 values in fp32_contents, got 1"):
        decode(request)


def test_fp16_has_no_typed_field() -> None:
    request = service_pb2.ModelInferRequest(model_name="m")
    request.inputs.add(name="h", datatype="FP16", shape=[1])
    with pytest.raises(InvalidArgument, match="send it in raw_input_contents"):
        decode(request)


def test_raw_data_of_the_wrong_length_is_refused() -> None:
    request = client_request("f")
    request.raw_input_contents[0] = request.raw_input_contents[0][:-1]
    with pytest.raises(InvalidArgument, match="unexpected total byte size 11 for input 'f'"):
        decode(request)


def test_raw_contents_must_cover_every_input() -> None:
    request = client_request("f", "i")
    del request.raw_input_contents[1]
    with pytest.raises(InvalidArgument, match="expected 2 raw_input_contents, one per input"):
        decode(request)


def test_raw_and_typed_contents_do_not_mix() -> None:
    request = client_request("f")
    request.inputs[0].contents.fp32_contents.extend([1, 2, 3])
    with pytest.raises(InvalidArgument, match="contents field must not be specified"):
        decode(request)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("datatype", "FLOAT", "invalid datatype 'FLOAT' for tensor 'f'"),
        ("datatype", "INT32", "data-type is 'INT32', but model 'm' expects 'FP32'"),
        ("name", "nope", "unexpected inference input 'nope' for model 'm'"),
    ],
)
def test_declarations_are_checked_before_data(field: str, value: str, message: str) -> None:
    request = client_request("f")
    setattr(request.inputs[0], field, value)
    with pytest.raises(InvalidArgument, match=message):
        decode(request)


def test_an_unknown_requested_output_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unexpected inference output 'z' for model 'm'"):
        decode(client_request("f", outputs=("z",)))


def test_a_negative_dimension_is_refused() -> None:
    request = client_request("f")
    request.inputs[0].shape[1] = -3
    with pytest.raises(InvalidArgument, match="negative dimension"):
        decode(request)


def test_shared_memory_inputs_are_refused_clearly() -> None:
    request = client_request("f")
    request.inputs[0].parameters["shared_memory_region"].string_param = "r"
    with pytest.raises(InvalidArgument, match="shared memory"):
        decode(request)


def test_input_bytes_counts_raw_and_typed_data() -> None:
    assert input_bytes(client_request("f", "i")) == 12 + 12
    request = service_pb2.ModelInferRequest()
    request.inputs.add(name="f", datatype="FP32", shape=[3]).contents.fp32_contents.extend([1] * 3)
    assert input_bytes(request) == 24


def test_input_bytes_takes_the_servers_count_of_the_message_when_it_has_one() -> None:
    class Context:
        request_bytes = 1234

    assert input_bytes(client_request("f", "i"), Context()) == 1234


def read_back(response: Any) -> InferResult:
    return InferResult(service_pb2.ModelInferResponse.FromString(response.SerializeToString()))


def test_every_output_leaves_raw_and_tritonclient_reads_it_back() -> None:
    response = infer_response("m", 3, "r1", ARRAYS)
    assert (response.model_name, response.model_version, response.id) == ("m", "3", "r1")
    assert len(response.raw_output_contents) == len(ARRAYS)
    assert not any(output.HasField("contents") for output in response.outputs)
    result = read_back(response)
    for name, array in ARRAYS.items():
        assert result.get_output(name).datatype == TYPES[name][1]
        np.testing.assert_array_equal(result.as_numpy(name), array)


def test_outputs_follow_the_requested_order() -> None:
    response = infer_response("m", 1, "", ARRAYS, order=["b", "f"])
    assert [output.name for output in response.outputs] == ["b", "f"]
    np.testing.assert_array_equal(read_back(response).as_numpy("f"), ARRAYS["f"])


def test_unicode_and_fortran_ordered_outputs_are_encoded_row_major() -> None:
    outputs = {
        "t": np.array(["héllo", "x"]),
        "m": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
    }
    result = read_back(infer_response("m", 1, "", outputs))
    assert result.as_numpy("t").tolist() == ["héllo".encode(), b"x"]
    np.testing.assert_array_equal(result.as_numpy("m"), outputs["m"])


@pytest.mark.parametrize("order", [(), ("b", "f")])
def test_the_answer_written_to_the_wire_is_the_messages_bytes(order: tuple[str, ...]) -> None:
    outputs = {**ARRAYS, "m": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))}
    written = serialized_infer_response("m", 3, "r1", outputs, order)
    assert written.data == infer_response("m", 3, "r1", outputs, order).SerializeToString()
