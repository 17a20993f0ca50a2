"""Every gRPC method through the official ``tensorflow-serving-api`` stubs, against
the real server process serving TensorFlow Serving's own test models.

Requests are built the way users build them: messages from the ``*_pb2`` modules,
tensors from ``tf.make_tensor_proto``, read back with ``tf.make_ndarray``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tests.support.saved_models import example
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

TIMEOUT_S = 30.0


@pytest.fixture(scope="module", params=[(), ("--grpc_server=threads",)], ids=["h2", "threads"])
def grpc_server_flags(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """Every test here runs on the default gRPC server (h2) and on grpcio's threaded one."""
    return tuple(request.param)


@pytest.fixture(scope="module")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow

    return tensorflow


@pytest.fixture(scope="module")
def channel(tfs_server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(tfs_server.grpc_target) as open_channel:
        grpc.channel_ready_future(open_channel).result(timeout=TIMEOUT_S)
        yield open_channel


@pytest.fixture(scope="module")
def prediction(channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel: grpc.Channel) -> model_service_pb2_grpc.ModelServiceStub:
    return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(
    tf: Any, name: str, values: list[float], *, version: int | None = None, label: str = ""
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label:
        request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(values, dtype=tf.float32))
    return request


def add_examples(request: Any, *xs: float) -> None:
    for x in xs:
        request.input.example_list.examples.add().ParseFromString(example(x=x))


def rpc_error(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=TIMEOUT_S)
    return caught.value


# -- Predict -------------------------------------------------------------------


def test_predict_latest_answers_and_echoes_the_resolved_spec(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    response = prediction.Predict(
        predict_request(tf, "half_plus_two", [1.0, 2.0, 5.0]), timeout=TIMEOUT_S
    )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [2.5, 3.0, 4.5])
    assert response.model_spec.name == "half_plus_two"
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "serving_default"


def test_predict_by_version_uses_that_version(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    for version in (123, 124):
        request = predict_request(tf, "two_versions", [1.0], version=version)
        response = prediction.Predict(request, timeout=TIMEOUT_S)
        assert response.model_spec.version.value == version
        assert tf.make_ndarray(response.outputs["y"]).shape == (1,)


def test_predict_by_label_resolves_to_the_labelled_version(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    for label, version in (("stable", 123), ("canary", 124)):
        request = predict_request(tf, "two_versions", [1.0], label=label)
        response = prediction.Predict(request, timeout=TIMEOUT_S)
        assert response.model_spec.version.value == version


def test_predict_latest_of_two_versions_is_the_highest(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    response = prediction.Predict(predict_request(tf, "two_versions", [1.0]), timeout=TIMEOUT_S)
    assert response.model_spec.version.value == 124


def test_predict_tf2_model(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    response = prediction.Predict(predict_request(tf, "tf2", [1.0, 2.0]), timeout=TIMEOUT_S)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [2.5, 3.0])


def test_predict_output_filter_returns_only_the_named_output(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    request = predict_request(tf, "half_plus_three", [1.0])
    request.output_filter.append("y")
    response = prediction.Predict(request, timeout=TIMEOUT_S)
    assert list(response.outputs) == ["y"]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [3.5])


# -- Classify / Regress / MultiInference -----------------------------------------


def test_classify_with_tf_examples(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "classify_x_to_y"
    add_examples(request, 1.0, 2.0)
    response = prediction.Classify(request, timeout=TIMEOUT_S)
    scores = [[c.score for c in cls.classes] for cls in response.result.classifications]
    assert scores == [[2.5], [3.0]]
    assert [[c.label for c in cls.classes] for cls in response.result.classifications] == [
        [""],
        [""],
    ]
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "classify_x_to_y"


def test_regress_with_tf_examples(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    add_examples(request, 1.0, 2.0, 5.0)
    response = prediction.Regress(request, timeout=TIMEOUT_S)
    assert [r.value for r in response.result.regressions] == [2.5, 3.0, 4.5]
    assert response.model_spec.signature_name == "regress_x_to_y"


def test_regress_by_label_and_by_version(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "two_versions"
    request.model_spec.signature_name = "regress_x_to_y"
    add_examples(request, 2.0)
    request.model_spec.version_label = "stable"
    assert prediction.Regress(request, timeout=TIMEOUT_S).model_spec.version.value == 123
    request.model_spec.version.value = 124
    assert prediction.Regress(request, timeout=TIMEOUT_S).model_spec.version.value == 124


def test_multi_inference_runs_classify_and_regress_in_task_order(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (
        ("regress_x_to_y", "tensorflow/serving/regress"),
        ("classify_x_to_y", "tensorflow/serving/classify"),
    ):
        task = request.tasks.add()
        task.model_spec.name = "half_plus_two"
        task.model_spec.signature_name = signature
        task.method_name = method
    add_examples(request, 1.0, 5.0)
    response = prediction.MultiInference(request, timeout=TIMEOUT_S)
    regress, classify = response.results
    assert regress.model_spec.signature_name == "regress_x_to_y"
    assert regress.model_spec.version.value == 123
    assert [r.value for r in regress.regression_result.regressions] == [2.5, 4.5]
    assert classify.model_spec.signature_name == "classify_x_to_y"
    scores = [c.classes[0].score for c in classify.classification_result.classifications]
    assert scores == [2.5, 4.5]


# -- Metadata and status ---------------------------------------------------------


def test_get_model_metadata_packs_the_signature_def_map(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    from tensorflow_serving.apis import get_model_metadata_pb2 as metadata_pb2

    request = metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "half_plus_two"
    request.metadata_field.append("signature_def")
    response = prediction.GetModelMetadata(request, timeout=TIMEOUT_S)
    assert response.model_spec.name == "half_plus_two"
    assert response.model_spec.version.value == 123
    signature_map = metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    signatures = signature_map.signature_def
    assert {"serving_default", "classify_x_to_y", "regress_x_to_y"} <= set(signatures)
    assert signatures["serving_default"].method_name == "tensorflow/serving/predict"
    assert signatures["classify_x_to_y"].method_name == "tensorflow/serving/classify"


def test_get_model_metadata_by_label(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "two_versions"
    request.model_spec.version_label = "stable"
    request.metadata_field.append("signature_def")
    response = prediction.GetModelMetadata(request, timeout=TIMEOUT_S)
    assert response.model_spec.version.value == 123


def test_get_model_status_lists_every_version(
    models: model_service_pb2_grpc.ModelServiceStub,
) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "two_versions"
    response = models.GetModelStatus(request, timeout=TIMEOUT_S)
    states = {s.version: s.state for s in response.model_version_status}
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert states == {123: available, 124: available}
    assert all(s.status.error_code == 0 for s in response.model_version_status)


def test_get_model_status_by_version(models: model_service_pb2_grpc.ModelServiceStub) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "two_versions"
    request.model_spec.version.value = 124
    response = models.GetModelStatus(request, timeout=TIMEOUT_S)
    assert [s.version for s in response.model_version_status] == [124]


def test_get_model_status_ignores_the_label_as_tf_serving_does(
    models: model_service_pb2_grpc.ModelServiceStub,
) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "two_versions"
    request.model_spec.version_label = "stable"
    response = models.GetModelStatus(request, timeout=TIMEOUT_S)
    assert sorted(s.version for s in response.model_version_status) == [123, 124]


def test_get_model_status_of_the_bad_model_reports_end_with_its_error(
    models: model_service_pb2_grpc.ModelServiceStub,
) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "bad"
    [status] = models.GetModelStatus(request, timeout=TIMEOUT_S).model_version_status
    assert status.version == 123
    assert status.state == get_model_status_pb2.ModelVersionStatus.END
    assert status.status.error_code != 0
    assert status.status.error_message


# -- HandleReloadConfigRequest ---------------------------------------------------------


def test_reload_with_the_same_config_succeeds_and_keeps_serving(
    tf: Any,
    half_plus_two_config: Path,
    models: model_service_pb2_grpc.ModelServiceStub,
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(half_plus_two_config.read_text(), request.config)
    response = models.HandleReloadConfigRequest(request, timeout=TIMEOUT_S)
    assert response.status.error_code == 0
    response = prediction.Predict(predict_request(tf, "half_plus_two", [1.0]), timeout=TIMEOUT_S)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [2.5])


def test_reload_with_a_custom_model_config_is_invalid_argument(
    models: model_service_pb2_grpc.ModelServiceStub,
) -> None:
    request = model_management_pb2.ReloadConfigRequest()
    request.config.custom_model_config.type_url = "type.googleapis.com/x.Custom"
    error = rpc_error(models.HandleReloadConfigRequest, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "ServerModelConfig type not supported by HandleReloadConfigRequest."
        " Only ModelConfigList is currently supported"
    )


# -- Errors ------------------------------------------------------------------------


def test_unknown_model_is_not_found_with_tf_serving_message(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    error = rpc_error(prediction.Predict, predict_request(tf, "nope", [1.0]))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Servable not found for request: Latest(nope)"


def test_unknown_version_is_not_found(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    error = rpc_error(prediction.Predict, predict_request(tf, "half_plus_two", [1.0], version=7))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Servable not found for request: Specific(half_plus_two, 7)"


def test_unknown_label_is_invalid_argument(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    request = predict_request(tf, "two_versions", [1.0], label="nightly")
    error = rpc_error(prediction.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Unrecognized servable version label: nightly"


def test_missing_signature_is_failed_precondition(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    request = predict_request(tf, "half_plus_two", [1.0])
    request.model_spec.signature_name = "nope"
    error = rpc_error(prediction.Predict, request)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == 'Serving signature key "nope" not found.'


def test_empty_model_spec_name_is_invalid_argument(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    error = rpc_error(prediction.Predict, predict_request(tf, "", [1.0]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "ModelSpec has no name specified."


def test_model_that_failed_to_load_is_not_found(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    error = rpc_error(prediction.Predict, predict_request(tf, "bad", [1.0]))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Servable not found for request: Latest(bad)"


def test_classify_with_unknown_signature_is_invalid_argument(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "nope"
    add_examples(request, 1.0)
    error = rpc_error(prediction.Classify, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "No signature was found with the name: nope"


def test_metadata_without_fields_is_invalid_argument(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "half_plus_two"
    error = rpc_error(prediction.GetModelMetadata, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "GetModelMetadataRequest must specify at least one metadata_field"


def test_metadata_with_unsupported_field_is_invalid_argument(
    prediction: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "half_plus_two"
    request.metadata_field.append("signature_def")
    request.metadata_field.append("graph")
    error = rpc_error(prediction.GetModelMetadata, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Metadata field graph is not supported"


def test_status_of_unknown_model_is_not_found(
    models: model_service_pb2_grpc.ModelServiceStub,
) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    error = rpc_error(models.GetModelStatus, request)
    assert error.code() == grpc.StatusCode.NOT_FOUND


# -- Health and reflection ---------------------------------------------------------


def test_health_reports_the_server_and_each_model(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for service in ("half_plus_two", "two_versions", "tf2"):
        request = health_pb2.HealthCheckRequest(service=service)
        assert health.Check(request, timeout=TIMEOUT_S).status == serving, service


def test_the_server_s_own_health_follows_readiness(
    channel: grpc.Channel, tfs_server: ServerProcess
) -> None:
    """The config holds a model that fails to load: /readyz is 503, and the overall
    entry "" says NOT_SERVING with it (it used to say SERVING whatever the models did)."""
    request = health_pb2.HealthCheckRequest(service="")
    status = health_pb2_grpc.HealthStub(channel).Check(request, timeout=TIMEOUT_S).status
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert tfs_server.get("/readyz")[0] == 503


def test_health_of_a_model_that_failed_to_load_is_not_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    response = health.Check(health_pb2.HealthCheckRequest(service="bad"), timeout=TIMEOUT_S)
    assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_health_of_an_unknown_service_is_not_found(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    error = rpc_error(health.Check, health_pb2.HealthCheckRequest(service="nope"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [response] = list(stub.ServerReflectionInfo(iter([request]), timeout=TIMEOUT_S))
    names = {s.name for s in response.list_services_response.service}
    assert {
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


def test_a_tiny_tensor_that_would_fill_40_gb_is_refused_and_the_server_keeps_serving(
    tf: Any, prediction: prediction_service_pb2_grpc.PredictionServiceStub
) -> None:
    request = predict_request(tf, "half_plus_two", [1.0])
    shape = request.inputs["x"].tensor_shape
    del shape.dim[:]
    shape.dim.add().size = 100_000
    shape.dim.add().size = 100_000
    error = rpc_error(prediction.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "tensor parsing error: x"  # TF Serving's text for a bad tensor
    response = prediction.Predict(predict_request(tf, "half_plus_two", [1.0]), timeout=TIMEOUT_S)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [2.5])
