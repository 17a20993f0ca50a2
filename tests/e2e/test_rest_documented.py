"""TensorFlow Serving's documented REST examples, against the real server process."""

from __future__ import annotations

import json

import pytest

from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e


def test_half_plus_two_predict_matches_the_documented_answer(tfs_server: ServerProcess) -> None:
    # g3doc/api_rest.md and docker.md: {"instances": [1.0, 2.0, 5.0]} -> [2.5, 3.0, 4.5]
    status, body = tfs_server.post(
        "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}
    )
    assert status == 200
    assert json.loads(body) == {"predictions": [2.5, 3.0, 4.5]}


def test_half_plus_three_by_version_answers_as_documented(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.post(
        "/v1/models/half_plus_three/versions/123:predict", {"instances": [1.0, 2.0, 5.0]}
    )
    assert status == 200
    assert json.loads(body) == {"predictions": [3.5, 4.0, 5.5]}


def test_columnar_request_returns_outputs(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.post("/v1/models/half_plus_two:predict", {"inputs": [1.0, 2.0]})
    assert status == 200
    assert json.loads(body) == {"outputs": [2.5, 3.0]}


def test_tf2_export_serves_too(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.post("/v1/models/tf2:predict", {"instances": [1.0, 2.0, 5.0]})
    assert status == 200, body
    assert json.loads(body) == {"predictions": [2.5, 3.0, 4.5]}


def test_classify_documented_example(tfs_server: ServerProcess) -> None:
    # api_rest.md: classify with tf.Example inputs on half_plus_two's classify_x_to_y.
    request = {
        "signature_name": "classify_x_to_y",
        "examples": [{"x": 1.0}, {"x": 2.0}],
    }
    status, body = tfs_server.post("/v1/models/half_plus_two:classify", request)
    assert status == 200, body
    assert json.loads(body) == {"results": [[["", 2.5]], [["", 3.0]]]}


def test_regress_documented_example(tfs_server: ServerProcess) -> None:
    request = {
        "signature_name": "regress_x_to_y",
        "examples": [{"x": 1.0}, {"x": 2.0}, {"x": 5.0}],
    }
    status, body = tfs_server.post("/v1/models/half_plus_two:regress", request)
    assert status == 200, body
    assert json.loads(body) == {"results": [2.5, 3.0, 4.5]}


def test_status_lists_the_available_version(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.get("/v1/models/half_plus_two")
    assert status == 200
    assert json.loads(body) == {
        "model_version_status": [
            {
                "version": "123",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def test_metadata_describes_the_signatures(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.get("/v1/models/half_plus_two/metadata")
    assert status == 200
    doc = json.loads(body)
    assert doc["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "123"}
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classify_x_to_y", "regress_x_to_y"} <= set(sigs)
    serving = sigs["serving_default"]
    assert serving["method_name"] == "tensorflow/serving/predict"
    assert serving["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert serving["outputs"]["y"]["dtype"] == "DT_FLOAT"


def test_versions_and_labels_of_the_two_version_model(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.get("/v1/models/two_versions")
    assert status == 200
    versions = {v["version"]: v["state"] for v in json.loads(body)["model_version_status"]}
    assert versions == {"124": "AVAILABLE", "123": "AVAILABLE"}
    for path in ("/versions/123", "/labels/stable"):
        status, body = tfs_server.post(
            f"/v1/models/two_versions{path}:predict", {"instances": [1.0]}
        )
        assert status == 200, body
    status, body = tfs_server.post(
        "/v1/models/two_versions/labels/canary:predict", {"instances": [1.0]}
    )
    assert status == 200, body


def test_bad_model_ends_with_its_error_and_others_keep_serving(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.get("/v1/models/bad")
    assert status == 200
    [entry] = json.loads(body)["model_version_status"]
    assert entry["version"] == "123"
    assert entry["state"] == "END"
    assert entry["status"]["error_code"] != "OK"
    assert entry["status"]["error_message"]
    status, _ = tfs_server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]})
    assert status == 200
    status, body = tfs_server.post("/v1/models/bad:predict", {"instances": [1.0]})
    assert status == 404
    assert json.loads(body) == {"error": "Servable not found for request: Latest(bad)"}


def test_health_readiness_and_model_list(tfs_server: ServerProcess) -> None:
    assert tfs_server.get("/healthz")[0] == 200
    status, body = tfs_server.get("/readyz")
    # The deliberately broken model never becomes available, so the server is not ready.
    assert status == 503
    doc = json.loads(body)
    assert doc["status"] == "not ready"
    assert "bad" in doc["models"]
    status, body = tfs_server.get("/tensorserve/v1/models")
    assert status == 200
    names = {m["name"] for m in json.loads(body)["models"]}
    assert {"half_plus_two", "half_plus_three", "two_versions", "bad", "tf2"} <= names
