"""Predict answers written straight to the wire read back as the message protobuf builds."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2

from tensorserve.grpc.predict_response import predict_response
from tensorserve.grpc.proto_conversion import fill_model_spec
from tensorserve.grpc.serialized_response import SerializedResponse, passing_serialized
from tensorserve.tfserving.tensor_proto import ndarray_to_tensor_proto

OUTPUTS = {
    "scores": np.random.default_rng(0).random((32, 10), dtype=np.float32),
    "classes": np.array([[b"cat", b"dog"]] * 32, dtype=object),
    "ids": np.arange(32, dtype=np.int64),
    "half": np.linspace(0, 1, 7, dtype=np.float16),
    "empty": np.zeros((0, 3), np.float32),
    "scalar": np.float64(2.5),
    "naïve ✓": np.array([True, False]),
}


def message_built_by_protobuf(as_tensor_content: bool) -> predict_pb2.PredictResponse:
    response = predict_pb2.PredictResponse()
    fill_model_spec(response.model_spec, "m", 7, "serving_default")
    for alias, array in OUTPUTS.items():
        ndarray_to_tensor_proto(
            array, as_tensor_content=as_tensor_content, out=response.outputs[alias]
        )
    return response


@pytest.mark.parametrize("as_tensor_content", [False, True])
def test_the_written_answer_parses_to_the_message_protobuf_builds(as_tensor_content: bool) -> None:
    written = predict_response(
        "m", 7, "serving_default", OUTPUTS, as_tensor_content=as_tensor_content
    )
    parsed = predict_pb2.PredictResponse.FromString(written.data)
    assert parsed == message_built_by_protobuf(as_tensor_content)


def test_an_answer_with_no_outputs_is_the_spec_alone() -> None:
    parsed = predict_pb2.PredictResponse.FromString(predict_response("m", 1, "", {}).data)
    assert not parsed.outputs
    assert (parsed.model_spec.name, parsed.model_spec.version.value) == ("m", 1)


def test_the_serializer_passes_written_answers_through_and_serializes_messages() -> None:
    serialize = passing_serialized(predict_pb2.PredictResponse.SerializeToString)
    assert serialize is not None
    message = message_built_by_protobuf(False)
    assert serialize(message) == message.SerializeToString()
    written = SerializedResponse(b"\x12\x03\n\x01m")
    assert serialize(written) is written.data
    assert passing_serialized(None) is None
