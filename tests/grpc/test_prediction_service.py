"""PredictionService.Predict and GetModelMetadata through the official stubs."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tensorserve.core.errors import Code
from tensorserve.grpc.server import GrpcOptions
from tensorserve.grpc.status import grpc_status_code
from tests.grpc.conftest import MODEL, ServerHarness
from tests.grpc.fakes import HalfPlusTwo
from tests.support.memory import all_freed, cycle_collector_paused
from tests.support.waiting import wait_until

Stub: TypeAlias = prediction_service_pb2_grpc.PredictionServiceStub


def predict_request(
    x: object = ((1.0,), (2.0,)),
    *,
    name: str = MODEL,
    version: int | None = None,
    label: str | None = None,
    signature: str = "",
    output_filter: tuple[str, ...] = (),
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(output_filter=output_filter)
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(x, np.float32)))
    return request


def rpc_error(call: object, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)  # type: ignore[operator]
    return info.value


def test_predict_uses_latest_version_and_echoes_the_resolved_spec(prediction: Stub) -> None:
    response = prediction.Predict(predict_request(), timeout=10)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 3
    assert response.model_spec.signature_name == "serving_default"
    assert list(response.outputs) == ["y"]
    assert list(response.outputs["y"].float_val) == [2.5, 3.0]  # typed field, like TF Serving
    assert not response.outputs["y"].tensor_content
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), [[2.5], [3.0]])


@pytest.mark.parametrize(
    ("kwargs", "version"),
    [
        ({"version": 2}, 2),
        ({"version": 3}, 3),
        ({"label": "stable"}, 2),
        ({"label": "canary"}, 3),
        ({"label": ""}, 3),
    ],
)
def test_predict_serves_the_requested_version_or_label(
    prediction: Stub, kwargs: dict[str, object], version: int
) -> None:
    response = prediction.Predict(predict_request(**kwargs), timeout=10)  # type: ignore[arg-type]
    assert response.model_spec.version.value == version
    assert response.model_spec.WhichOneof("version_choice") == "version"


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        (
            {"name": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            {"version": 9},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(half_plus_two, 9)",
        ),
        (
            {"label": "nope"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
        ({"name": ""}, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (
            {"signature": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            {"output_filter": ("w",)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "output tensor alias not found in signature: w Outputs expected to be in the set {y}.",
        ),
        (
            {"output_filter": ("y", "y")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "duplicate output tensor alias: y",
        ),
    ],
)
def test_predict_errors_carry_tf_serving_codes_and_messages(
    prediction: Stub, kwargs: dict[str, object], code: grpc.StatusCode, message: str
) -> None:
    error = rpc_error(prediction.Predict, predict_request(**kwargs))  # type: ignore[arg-type]
    assert (error.code(), error.details()) == (code, message)


def test_predict_input_set_mismatch_is_invalid_argument(prediction: Stub) -> None:
    request = predict_request()
    request.inputs["extra"].CopyFrom(tf.make_tensor_proto(1.0))
    error = rpc_error(prediction.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "input size does not match signature: 2!=1 len({extra,x}) != len({x}). "
        "Sent extra: {extra}. Missing but required: {}."
    )


def test_undecodable_input_tensor_is_a_tensor_parsing_error(prediction: Stub) -> None:
    request = predict_request()
    request.inputs["x"].tensor_content = b"\x00" * 3  # 3 bytes cannot be two floats
    error = rpc_error(prediction.Predict, request)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x",
    )


def test_output_filter_selects_outputs(prediction: Stub) -> None:
    both = prediction.Predict(predict_request(signature="two_outputs"), timeout=10)
    assert sorted(both.outputs) == ["y", "z"]
    only_z = prediction.Predict(
        predict_request(signature="two_outputs", output_filter=("z",)), timeout=10
    )
    assert list(only_z.outputs) == ["z"]
    np.testing.assert_array_equal(tf.make_ndarray(only_z.outputs["z"]), [[3.5], [4.0]])
    assert only_z.model_spec.signature_name == "two_outputs"


def test_client_deadline_becomes_the_model_timeout(
    prediction: Stub, harness: ServerHarness
) -> None:
    prediction.Predict(predict_request(), timeout=20)
    # gRPC rounds the deadline it sends up a little, so allow a margin.
    assert 0 < harness.models[3].timeouts[-1] <= 21  # type: ignore[operator]
    prediction.Predict(predict_request())
    assert harness.models[3].timeouts[-1] is None


@pytest.mark.parametrize("code", [c for c in Code if c is not Code.OK])
def test_every_canonical_code_reaches_the_client(prediction: Stub, code: Code) -> None:
    error = rpc_error(prediction.Predict, raise_request(code, 10))
    assert (error.code(), error.details()) == (grpc_status_code(code), "e" * 10)


def test_long_messages_are_truncated_at_1024_chars(prediction: Stub) -> None:
    assert rpc_error(prediction.Predict, raise_request(Code.INTERNAL, 1024)).details() == "e" * 1024
    error = rpc_error(prediction.Predict, raise_request(Code.INTERNAL, 5000))
    assert error.details() == "e" * 1024 + "...TRUNCATED"


def raise_request(code: Code, length: int) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "raise"
    request.inputs["code"].CopyFrom(tf.make_tensor_proto(int(code), tf.int32))
    request.inputs["length"].CopyFrom(tf.make_tensor_proto(length, tf.int32))
    return request


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1.5, -2.0]], np.float16),
        np.array([True, False, True]),
        np.array([[b"a", b"\xff\x00"]], dtype=object),
        np.array([-128, 127], np.int8),
        np.array([2**64 - 1], np.uint64),
        np.array([1 + 2j], np.complex64),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.float64(3.25),
    ],
)
def test_tensors_of_every_kind_cross_the_wire_unchanged(
    prediction: Stub, array: np.ndarray
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "identity"
    request.inputs["t"].CopyFrom(tf.make_tensor_proto(array))
    output = prediction.Predict(request, timeout=10).outputs["t"]
    assert output.dtype == request.inputs["t"].dtype
    np.testing.assert_array_equal(tf.make_ndarray(output), array)


def test_tensor_content_option_serializes_outputs_as_bytes(make_harness: object) -> None:
    harness = make_harness(  # type: ignore[operator]
        GrpcOptions(port=0, host="127.0.0.1", tensor_content_outputs=True)
    )
    with harness.channel() as channel:
        response = Stub(channel).Predict(predict_request(), timeout=10)
    output = response.outputs["y"]
    assert output.tensor_content and not output.float_val
    np.testing.assert_array_equal(tf.make_ndarray(output), [[2.5], [3.0]])


def test_server_accepts_and_sends_messages_past_the_default_4mb_limit(
    harness: ServerHarness,
) -> None:
    x = np.ones((2_000_000, 1), np.float32)  # 8 MB each way
    unlimited = [("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{harness.port}", options=unlimited) as channel:
        response = Stub(channel).Predict(predict_request(x), timeout=30)
    assert response.outputs["y"].tensor_shape.dim[0].size == 2_000_000


def test_predict_results_are_reported_to_the_observer(
    prediction: Stub, harness: ServerHarness
) -> None:
    prediction.Predict(predict_request(name=MODEL), timeout=10)
    rpc_error(prediction.Predict, predict_request(name="unknown_model"))
    assert (MODEL, "Predict", "GRPC", Code.OK) in harness.observer.finished
    assert ("unknown_model", "Predict", "GRPC", Code.NOT_FOUND) in harness.observer.finished


def test_every_call_releases_its_model_version(prediction: Stub, harness: ServerHarness) -> None:
    prediction.Predict(predict_request(), timeout=10)
    rpc_error(prediction.Predict, predict_request(signature="nope"))
    assert harness.manager.open_handles == 0


def metadata_request(
    *fields: str, **spec: object
) -> get_model_metadata_pb2.GetModelMetadataRequest:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = spec.get("name", MODEL)  # type: ignore[assignment]
    if "version" in spec:
        request.model_spec.version.value = spec["version"]  # type: ignore[assignment]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]  # type: ignore[assignment]
    return request


def test_metadata_packs_the_signature_def_map(prediction: Stub) -> None:
    response = prediction.GetModelMetadata(metadata_request("signature_def"), timeout=10)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 3
    assert response.model_spec.signature_name == ""
    assert list(response.metadata) == ["signature_def"]
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    assert "serving_default" in signature_defs.signature_def
    assert signature_defs.signature_def["serving_default"].inputs["x"].name == "x:0"


def test_metadata_resolves_labels(prediction: Stub) -> None:
    response = prediction.GetModelMetadata(
        metadata_request("signature_def", label="stable"), timeout=10
    )
    assert response.model_spec.version.value == 2


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Missing ModelSpec",
        ),
        (
            metadata_request(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "GetModelMetadataRequest must specify at least one metadata_field",
        ),
        (
            metadata_request("bogus"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Metadata field bogus is not supported",
        ),
        (
            metadata_request("signature_def", name="nope"),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            metadata_request("signature_def", version=9),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(half_plus_two, 9)",
        ),
    ],
)
def test_metadata_errors(
    prediction: Stub,
    request_: get_model_metadata_pb2.GetModelMetadataRequest,
    code: grpc.StatusCode,
    message: str,
) -> None:
    error = rpc_error(prediction.GetModelMetadata, request_)
    assert (error.code(), error.details()) == (code, message)


@pytest.mark.parametrize(
    ("method", "request_type"),
    [
        ("Predict", predict_pb2.PredictRequest),
        ("Classify", classification_pb2.ClassificationRequest),
        ("Regress", regression_pb2.RegressionRequest),
        ("GetModelMetadata", get_model_metadata_pb2.GetModelMetadataRequest),
    ],
)
def test_a_request_without_a_model_spec_is_missing_its_model_spec(
    prediction: Stub, method: str, request_type: Any
) -> None:
    # TF Serving's words; an empty name in a present spec is "ModelSpec has no name
    # specified." (MultiInference, which takes its spec from a task, says that too).
    request = request_type()
    if method == "GetModelMetadata":
        request.metadata_field.append("signature_def")
    error = rpc_error(getattr(prediction, method), request)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )


class Remembering(HalfPlusTwo):
    """half_plus_two that keeps a weak reference to every input tensor it is given."""

    def __init__(self) -> None:
        super().__init__(1)
        self.inputs: list[weakref.ref[np.ndarray]] = []

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        self.inputs.extend(weakref.ref(array) for array in inputs.values())
        return super().predict(signature_name, inputs, output_filter, timeout_s)


def test_a_refused_requests_tensors_are_freed_when_it_is_answered(
    prediction: Stub, harness: ServerHarness
) -> None:
    """The model refuses float64; the error's traceback runs through the frames that hold
    the decoded tensor, and must not keep it (nor the request) for the cycle collector."""
    model = Remembering()
    harness.manager.add("remembering", 1, model)
    request = predict_request(name="remembering")
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1000, 1), np.float64)))
    with cycle_collector_paused():
        for _ in range(3):
            error = rpc_error(prediction.Predict, request)
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert len(model.inputs) == 3
        wait_until(lambda: all_freed(model.inputs), timeout=10, what="the inputs to be freed")


class AwaitedOnLoop(HalfPlusTwo):
    """An ``async def`` servable: predict is awaited on the server's loop, never called
    from a thread."""

    def __init__(self) -> None:
        super().__init__(1)
        self.threads: list[int] = []

    def runs_on_loop(self, signature_name: str) -> bool:
        return True

    async def predict_async(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        self.threads.append(threading.get_ident())
        return super().predict(signature_name, inputs, output_filter, timeout_s)

    def predict(self, *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        raise AssertionError("an async def servable is awaited on the loop")


def test_an_async_servable_is_awaited_on_the_loop(prediction: Stub, harness: ServerHarness) -> None:
    model = AwaitedOnLoop()
    harness.manager.add("awaited", 1, model)
    response = prediction.Predict(predict_request(name="awaited"), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5], [3.0]])
    assert model.threads == [harness.loop_thread_id]
    missing = rpc_error(prediction.Predict, predict_request(name="awaited", signature="nope"))
    assert missing.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_a_request_is_sized_by_the_transports_count_when_it_has_one() -> None:
    from types import SimpleNamespace

    from tensorserve.grpc.prediction_service import request_size

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].tensor_content = b"\0" * 4000
    # The h2 server's context knows the size; protobuf's ByteSize() would re-encode.
    assert request_size(request, SimpleNamespace(request_bytes=4321)) == 4321
    # grpcio's contexts do not: the message is counted.
    assert request_size(request, SimpleNamespace()) == request.ByteSize()
