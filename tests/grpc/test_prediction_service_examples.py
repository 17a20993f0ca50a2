"""PredictionService.Classify, Regress and MultiInference through the official stubs."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tensorserve.core.errors import Code
from tests.grpc.conftest import MODEL, ServerHarness

Stub: TypeAlias = prediction_service_pb2_grpc.PredictionServiceStub
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def example(**features: float) -> example_pb2.Example:
    proto = example_pb2.Example()
    for name, value in features.items():
        proto.features.feature[name].float_list.value.append(value)
    return proto


def example_input(*xs: float) -> input_pb2.Input:
    proto = input_pb2.Input()
    proto.example_list.examples.extend(example(x=x) for x in xs)
    return proto


def spec_fields(request: object, signature: str, **spec: object) -> object:
    request.model_spec.name = spec.get("name", MODEL)  # type: ignore[attr-defined]
    request.model_spec.signature_name = signature  # type: ignore[attr-defined]
    if "version" in spec:
        request.model_spec.version.value = spec["version"]  # type: ignore[attr-defined]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]  # type: ignore[attr-defined]
    return request


def classify_request(
    input_: input_pb2.Input, signature: str = "classify_x_to_y", **spec: object
) -> classification_pb2.ClassificationRequest:
    request = classification_pb2.ClassificationRequest(input=input_)
    return spec_fields(request, signature, **spec)  # type: ignore[return-value]


def regress_request(
    input_: input_pb2.Input, signature: str = "regress_x_to_y", **spec: object
) -> regression_pb2.RegressionRequest:
    request = regression_pb2.RegressionRequest(input=input_)
    return spec_fields(request, signature, **spec)  # type: ignore[return-value]


def rpc_error(call: object, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)  # type: ignore[operator]
    return info.value


def test_classify_scores_each_example(prediction: Stub) -> None:
    response = prediction.Classify(classify_request(example_input(1.0, 2.0)), timeout=10)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 3
    assert response.model_spec.signature_name == "classify_x_to_y"
    rows = [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]
    assert rows == [[("", 2.5)], [("", 3.0)]]


def test_classify_returns_labels_when_the_model_has_classes(prediction: Stub) -> None:
    response = prediction.Classify(
        classify_request(example_input(2.0), "classify_with_classes"), timeout=10
    )
    row = response.result.classifications[0]
    assert [(c.label, c.score) for c in row.classes] == [("low", 3.0), ("high", 4.0)]


def test_context_features_are_merged_into_every_example(prediction: Stub) -> None:
    input_ = input_pb2.Input()
    input_.example_list_with_context.context.CopyFrom(example(x=6.0))
    input_.example_list_with_context.examples.extend([example(), example(x=2.0)])
    response = prediction.Regress(regress_request(input_), timeout=10)
    # The first example takes x from the context; the second's own x wins.
    assert [r.value for r in response.result.regressions] == [5.0, 3.0]


@pytest.mark.parametrize(
    ("spec", "version"), [({}, 3), ({"version": 2}, 2), ({"label": "stable"}, 2)]
)
def test_regress_by_version_and_label(prediction: Stub, spec: dict[str, Any], version: int) -> None:
    response = prediction.Regress(regress_request(example_input(4.0), **spec), timeout=10)
    assert [r.value for r in response.result.regressions] == [4.0]
    assert response.model_spec.version.value == version
    assert response.model_spec.signature_name == "regress_x_to_y"


@pytest.mark.parametrize("method", ["Classify", "Regress"])
@pytest.mark.parametrize(
    ("input_", "spec", "code", "message"),
    [
        (input_pb2.Input(), {}, grpc.StatusCode.INVALID_ARGUMENT, "Input is empty."),
        (
            example_input(1.0),
            {"signature": "nope"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "No signature was found with the name: nope",
        ),
        (
            example_input(1.0),
            {"name": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            example_input(1.0),
            {"label": "nope"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
    ],
)
def test_classify_and_regress_errors(
    prediction: Stub,
    method: str,
    input_: input_pb2.Input,
    spec: dict[str, Any],
    code: grpc.StatusCode,
    message: str,
) -> None:
    build = classify_request if method == "Classify" else regress_request
    request = build(input_, **spec)
    error = rpc_error(getattr(prediction, method), request)
    assert (error.code(), error.details()) == (code, message)


def test_classify_and_regress_are_reported_to_the_observer(
    prediction: Stub, harness: ServerHarness
) -> None:
    prediction.Classify(classify_request(example_input(1.0)), timeout=10)
    rpc_error(prediction.Regress, regress_request(input_pb2.Input()))
    assert (MODEL, "Classify", "GRPC", Code.OK) in harness.observer.finished
    assert (MODEL, "Regress", "GRPC", Code.INVALID_ARGUMENT) in harness.observer.finished


def multi_request(
    *tasks: tuple[str, str, str], xs: tuple[float, ...] = (1.0, 2.0)
) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest(input=example_input(*xs))
    for name, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = name
        task.model_spec.signature_name = signature
    return request


def test_multi_inference_answers_every_task_in_order(prediction: Stub) -> None:
    response = prediction.MultiInference(
        multi_request((MODEL, "regress_x_to_y", REGRESS), (MODEL, "classify_x_to_y", CLASSIFY)),
        timeout=10,
    )
    regression, classification = response.results
    assert [r.value for r in regression.regression_result.regressions] == [2.5, 3.0]
    assert regression.model_spec.signature_name == "regress_x_to_y"
    assert regression.model_spec.version.value == 3
    scores = [row.classes[0].score for row in classification.classification_result.classifications]
    assert scores == [2.5, 3.0]
    assert classification.model_spec.signature_name == "classify_x_to_y"


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (multi_request(), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (
            multi_request(("nope", "regress_x_to_y", REGRESS)),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            multi_request(
                (MODEL, "regress_x_to_y", REGRESS), ("other", "classify_x_to_y", CLASSIFY)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "All ModelSpecs in a MultiInferenceRequest must access the same model name.",
        ),
        (
            multi_request((MODEL, "regress_x_to_y", REGRESS), (MODEL, "regress_x_to_y", REGRESS)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Duplicate evaluation of signature: regress_x_to_y",
        ),
        (
            multi_request((MODEL, "nope", REGRESS)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Requested signature not found in model graph: nope",
        ),
        (
            multi_request((MODEL, "serving_default", "tensorflow/serving/predict")),
            grpc.StatusCode.UNIMPLEMENTED,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
        (
            multi_request(
                (MODEL, "regress_x_to_y", REGRESS), (MODEL, "regress_other_input", REGRESS)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Input tensor must be the same for all Signatures.",
        ),
        (
            multi_request((MODEL, "regress_x_to_y", REGRESS), xs=()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Input is empty.",
        ),
    ],
)
def test_multi_inference_errors(
    prediction: Stub,
    request_: inference_pb2.MultiInferenceRequest,
    code: grpc.StatusCode,
    message: str,
) -> None:
    error = rpc_error(prediction.MultiInference, request_)
    assert (error.code(), error.details()) == (code, message)
