"""The /v2 dispatcher and handlers over a real DataPlane with fake models (no server, no TF)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

import numpy as np
import pytest

from tensorserve.core.errors import Code, NotFound
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.dataplane import RepositoryEntry
from tensorserve.rest import RestOptions
from tensorserve.servables.dtypes import DataType
from tests.rest.conftest import FakeModel, RestHarness, echo_signature

INFER = "/v2/models/half_plus_two/infer"
X_JSON = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 5.0]}]}


@pytest.fixture
def v2() -> Iterator[RestHarness]:
    harness = RestHarness()
    harness.add_model("half_plus_two", 3, FakeModel())
    yield harness
    harness.executor.shutdown(wait=False, cancel_futures=True)


def binary_request(array: np.ndarray, **parameters: object) -> tuple[bytes, list[tuple[str, str]]]:
    blob = array.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(blob)},
                }
            ],
            "parameters": parameters,
        }
    ).encode()
    return header + blob, [("Inference-Header-Content-Length", str(len(header)))]


def test_json_infer_answers_json_and_is_counted_as_v2_rest(v2: RestHarness) -> None:
    response = v2.post(INFER, {**X_JSON, "id": "a"})
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "model_name": "half_plus_two",
        "model_version": "3",
        "id": "a",
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [2], "data": [2.5, 4.5]}],
    }
    assert v2.observer.finished == [("half_plus_two", "predict", "V2_REST", Code.OK)]


def test_binary_infer_answers_binary(v2: RestHarness) -> None:
    body, headers = binary_request(np.array([1.0, 5.0]), binary_data_output=True)
    response = v2.post(INFER, body=body, headers=headers)
    assert response.status == 200
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["inference-header-content-length"])
    output = json.loads(response.body[:length])["outputs"][0]
    assert output["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(response.body[length:], "<f4").tolist() == [2.5, 4.5]


def test_large_bodies_are_parsed_and_rendered_off_the_loop() -> None:
    harness = RestHarness(offload_bytes=16)
    harness.add_model("half_plus_two", 1, FakeModel())
    body, headers = binary_request(np.arange(100.0), binary_data_output=False)
    response = harness.post(INFER, body=body, headers=headers)
    assert response.status == 200 and len(response.json()["outputs"][0]["data"]) == 100
    harness.executor.shutdown(wait=False)


def test_deflate_request_body(v2: RestHarness) -> None:
    body = zlib.compress(json.dumps(X_JSON).encode())
    response = v2.post(INFER, body=body, headers=[("Content-Encoding", "deflate")])
    assert response.status == 200


def test_a_refused_request_is_counted_with_its_code(v2: RestHarness) -> None:
    assert v2.post(INFER, body=b"{").status == 400
    assert v2.observer.finished == [("half_plus_two", "predict", "V2_REST", Code.INVALID_ARGUMENT)]


def test_signature_name_parameter_picks_a_signature(v2: RestHarness) -> None:
    signatures = {"echo": echo_signature("echo", {"v": DataType.DT_INT64})}
    v2.add_model("echo", 1, FakeModel(signatures))
    request = {
        "inputs": [{"name": "v", "shape": [1], "datatype": "INT64", "data": [2**62]}],
        "parameters": {"signature_name": "echo"},
    }
    assert v2.post("/v2/models/echo/infer", request).json()["outputs"][0]["data"] == [2**62]
    response = v2.post("/v2/models/echo/infer", {"inputs": request["inputs"]})
    assert response.status == 400
    assert "signature 'serving_default' not found in model 'echo'" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/models/nope/infer", "Request for unknown model: 'nope' is not found"),
        (
            "/v2/models/half_plus_two/versions/9/infer",
            "Request for unknown model: 'half_plus_two' version 9 is not found",
        ),
    ],
)
def test_unknown_models_and_versions_are_404(v2: RestHarness, path: str, message: str) -> None:
    response = v2.post(path, X_JSON)
    assert (response.status, response.json()) == (404, {"error": message})


def test_a_model_without_available_version_says_so(v2: RestHarness) -> None:
    v2.states.publish(ServableState(ServableId("gone", 1), ManagerState.END))
    response = v2.post("/v2/models/gone/infer", X_JSON)
    assert response.status == 404
    assert response.json()["error"] == "Request for unknown model: 'gone' has no available versions"


def test_health_and_readiness(v2: RestHarness) -> None:
    assert (v2.get("/v2/health/live").status, v2.get("/v2/health/ready").status) == (200, 200)
    assert v2.get("/v2/models/half_plus_two/ready").json() == {
        "name": "half_plus_two",
        "ready": True,
    }
    assert v2.get("/v2/models/half_plus_two/versions/3/ready").status == 200
    not_ready = v2.get("/v2/models/half_plus_two/versions/4/ready")
    assert (not_ready.status, not_ready.headers["content-type"]) == (400, "application/json")
    v2.states.publish(ServableState(ServableId("loading", 1), ManagerState.LOADING))
    assert v2.get("/v2/health/ready").status == 400


def test_model_metadata(v2: RestHarness) -> None:
    document = v2.get("/v2/models/half_plus_two").json()
    assert document["versions"] == ["3"] and document["platform"] == "fake"
    assert document["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1]}]
    assert v2.get("/v2/models/nope").status == 404


def test_every_v2_answer_is_json_even_errors(v2: RestHarness) -> None:
    for method, path, status in [
        ("GET", "/v2/nope", 404),
        ("PUT", INFER, 405),
        ("GET", "/v2", 200),
        ("POST", "/v2/repository/index", 200),
    ]:
        response = v2.request(method, path)
        assert response.status == status
        assert response.headers["content-type"] == "application/json"
        json.loads(response.body)
    assert v2.request("PUT", INFER).headers["allow"] == "POST"


def test_repository_index_without_model_control(v2: RestHarness) -> None:
    assert v2.post("/v2/repository/index", body=b"").json() == [
        {"name": "half_plus_two", "version": "3", "state": "READY", "reason": ""}
    ]
    assert v2.post("/v2/repository/index", body=b'{"ready": "yes"}').status == 400


class FakeRepository:
    """Model control over one configured model whose load fails with ``load_error``."""

    def __init__(self, load_error: Exception | None = None) -> None:
        self.load_error = load_error
        self.calls: list[tuple[str, str]] = []

    def index(self) -> list[RepositoryEntry]:
        return [RepositoryEntry("half_plus_two", "3", "READY", "")]

    def readiness(self) -> tuple[bool, dict[str, str]]:
        return True, {}

    async def load(self, name: str) -> None:
        self.calls.append(("load", name))
        if self.load_error is not None:
            raise self.load_error

    async def unload(self, name: str) -> None:
        self.calls.append(("unload", name))


def test_load_and_unload_reach_the_repository() -> None:
    repository = FakeRepository()
    harness = RestHarness(repository=repository)
    unload = harness.post(
        "/v2/repository/models/half_plus_two/unload",
        {"parameters": {"unload_dependents": False}},
    )
    load = harness.post("/v2/repository/models/half_plus_two/load", body=b"{}")
    assert (unload.status, load.status) == (200, 200)
    assert repository.calls == [("unload", "half_plus_two"), ("load", "half_plus_two")]
    harness.executor.shutdown(wait=False)


def test_unknown_names_are_404_and_load_errors_keep_their_own_text() -> None:
    repository = FakeRepository(NotFound("Could not find base path /gone for servable m"))
    harness = RestHarness(repository=repository)
    unknown = harness.post("/v2/repository/models/other/load", body=b"")
    assert (unknown.status, unknown.json()["error"]) == (
        404,
        "Request for unknown model: 'other' is not found",
    )
    failed = harness.post("/v2/repository/models/half_plus_two/load", body=b"")
    assert failed.json()["error"] == "Could not find base path /gone for servable m"
    assert repository.calls == [("load", "half_plus_two")]
    harness.executor.shutdown(wait=False)


def test_cors_support_covers_v2() -> None:
    harness = RestHarness(RestOptions(enable_cors=True))
    harness.add_model("half_plus_two", 1, FakeModel())
    preflight = harness.request("OPTIONS", INFER, headers=[("Origin", "http://example.com")])
    assert (preflight.status, preflight.headers["access-control-allow-origin"]) == (200, "*")
    answer = harness.post(INFER, X_JSON)
    missing = harness.get("/v2/nope")
    assert answer.headers["access-control-allow-origin"] == "*"
    assert missing.headers["access-control-allow-origin"] == "*"
    harness.executor.shutdown(wait=False)


def test_without_cors_an_options_request_is_405_json(v2: RestHarness) -> None:
    response = v2.request("OPTIONS", INFER)
    assert (response.status, response.headers["content-type"]) == (405, "application/json")
    assert "access-control-allow-origin" not in response.headers
