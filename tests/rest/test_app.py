"""The REST app end to end, in-process, against fake models behind a real DataPlane."""

import asyncio
import gzip
import json
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensorserve.core.errors import Code
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.rest.asgi import Message, Receive, Scope, Send
from tensorserve.rest.http_status import error_http_status
from tensorserve.rest.request_body import PayloadTooLarge
from tensorserve.servables.dtypes import DataType
from tests.rest.conftest import FakeModel, RestHarness, call_asgi, call_asgi_async, echo_signature

PREDICT = "/v1/models/half_plus_two:predict"


@pytest.fixture(scope="module")
def echo_harness() -> Any:
    harness = RestHarness()
    inputs = {"f": DataType.DT_FLOAT, "s": DataType.DT_STRING, "raw_bytes": DataType.DT_STRING}
    signatures = {
        "serving_default": echo_signature("serving_default", inputs),
        "x": echo_signature("x", {"x": DataType.DT_INT32}),
    }
    harness.add_model("echo", 1, FakeModel(signatures))
    yield harness
    harness.executor.shutdown(wait=False, cancel_futures=True)


def _error(response: Any) -> str:
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


# TensorFlow Serving's documented examples (g3doc/api_rest.md).


def test_documented_predict_row_example(harness: RestHarness) -> None:
    response = harness.post(PREDICT, {"instances": [1.0, 2.0, 5.0]})
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": [2.5, 3.0, 4.5]}


def test_predict_columnar_example(harness: RestHarness) -> None:
    response = harness.post(PREDICT, {"inputs": [1.0, 2.0, 5.0]})
    assert response.json() == {"outputs": [2.5, 3.0, 4.5]}
    assert harness.post(PREDICT, {"inputs": {"x": 1.0}}).json() == {"outputs": 2.5}


def test_large_number_array_bodies_answer_as_small_ones_do(harness: RestHarness) -> None:
    # Over 4 KB, so the number-array decoding serves them (see rest/predict_body.py).
    values = [[round(i * 0.001, 3)] for i in range(2_000)]
    expected = (np.asarray(values, np.float32) * np.float32(0.5) + np.float32(2)).tolist()
    body = {"signature_name": "serving_default", "instances": values}
    rows = harness.post(PREDICT, body)
    assert rows.status == 200
    assert np.asarray(rows.json()["predictions"], np.float32).tolist() == expected
    columns = harness.post(PREDICT, {"inputs": values})
    assert np.asarray(columns.json()["outputs"], np.float32).tolist() == expected


def test_large_ragged_body_gets_tensorflow_servings_error(harness: RestHarness) -> None:
    response = harness.post(PREDICT, {"instances": [[0.5] * 600, [0.5] * 599]})
    assert response.status == 400
    assert _error(response) == (
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting tensor size: 600 but got: 599"
    )


def test_documented_regress_example(harness: RestHarness) -> None:
    response = harness.post(
        "/v1/models/half_plus_two:regress",
        {"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]},
    )
    assert response.status == 200
    assert response.json() == {"results": [2.5, 3.0]}


def test_documented_classify_example(harness: RestHarness) -> None:
    response = harness.post(
        "/v1/models/half_plus_two:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]},
    )
    assert response.json() == {"results": [[["", 2.5]], [["", 3.0]]]}


def test_documented_status_example(harness: RestHarness) -> None:
    response = harness.get("/v1/models/half_plus_two")
    assert response.status == 200
    assert response.json() == {
        "model_version_status": [
            {
                "version": "123",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def test_status_lists_versions_newest_first_and_ignores_labels(harness: RestHarness) -> None:
    harness.states.publish(ServableState(ServableId("half_plus_two", 124), ManagerState.LOADING))
    versions = [
        (s["version"], s["state"])
        for s in harness.get("/v1/models/half_plus_two/labels/any").json()["model_version_status"]
    ]
    assert versions == [("124", "LOADING"), ("123", "AVAILABLE")]
    one = harness.get("/v1/models/half_plus_two/versions/124").json()["model_version_status"]
    assert [s["version"] for s in one] == ["124"]


def test_status_errors(harness: RestHarness) -> None:
    unknown = harness.get("/v1/models/nope")
    assert (unknown.status, _error(unknown)) == (404, "Could not find any versions of model nope")
    version = harness.get("/v1/models/half_plus_two/versions/9")
    assert (version.status, _error(version)) == (
        404,
        "Could not find version 9 of model half_plus_two",
    )
    missing = harness.get("/v1/models")
    assert (missing.status, _error(missing)) == (400, "Missing model name in request.")


def test_documented_metadata_example(harness: RestHarness) -> None:
    response = harness.get("/v1/models/half_plus_two/versions/123/metadata")
    assert response.status == 200
    body = response.json()
    assert body["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "123"}
    serving_default = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert serving_default == {
        "inputs": {
            "x": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False},
                "name": "x:0",
            }
        },
        "outputs": {
            "y": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False},
                "name": "y:0",
            }
        },
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }


def test_metadata_of_unknown_model_is_servable_not_found(harness: RestHarness) -> None:
    response = harness.get("/v1/models/nope/metadata")
    assert (response.status, _error(response)) == (
        404,
        "Servable not found for request: Latest(nope)",
    )


# Versions and labels.


def test_unknown_model_version_and_label(harness: RestHarness) -> None:
    body = {"instances": [1.0]}
    unknown = harness.post("/v1/models/nope:predict", body)
    assert (unknown.status, _error(unknown)) == (
        404,
        "Servable not found for request: Latest(nope)",
    )
    version = harness.post("/v1/models/half_plus_two/versions/5:predict", body)
    assert (version.status, _error(version)) == (
        404,
        "Servable not found for request: Specific(half_plus_two, 5)",
    )
    label = harness.post("/v1/models/half_plus_two/labels/canary:predict", body)
    assert (label.status, _error(label)) == (400, "Unrecognized servable version label: canary")


def test_labels_resolve_to_versions(harness: RestHarness) -> None:
    harness.set_labels({"half_plus_two": {"stable": 123}})
    response = harness.post("/v1/models/half_plus_two/labels/stable:predict", {"instances": [1.0]})
    assert response.json() == {"predictions": [2.5]}
    metadata = harness.get("/v1/models/half_plus_two/labels/stable/metadata").json()
    assert metadata["model_spec"]["version"] == "123"


def test_oversized_version_is_400_with_the_message_as_a_json_body(
    harness: RestHarness,
) -> None:
    # TensorFlow Serving answers these with an empty body; we send the message it
    # computed, so every error a client sees is JSON (a documented difference).
    for response in (
        harness.post("/v1/models/half_plus_two/versions/99999999999999999999:predict", {}),
        harness.get("/v1/models/half_plus_two/versions/99999999999999999999"),
    ):
        assert response.status == 400
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": "Failed to convert version: 99999999999999999999 to numeric."
        }


# Bad requests.


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "JSON Parse error: The document is empty"),
        (b'{"instances": [1.0,', 400, "JSON Parse error: Invalid value. at offset: 19"),
        (
            b'{"instances": ["a"]}',
            400,
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
            'JSON Value: "a" Type: String is not of expected type: float',
        ),
        (
            b'{"instances": [[1.0, 2.0], [3.0]]}',
            400,
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 2 but got: 1",
        ),
        (
            b'{"signature_name": "nope", "instances": [1.0]}',
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            b'{"instances": [1.0]',
            400,
            "JSON Parse error: Missing a comma or '}' after an object member. at offset: 19",
        ),
    ],
)
def test_bad_predict_requests(harness: RestHarness, body: bytes, status: int, message: str) -> None:
    response = harness.post(PREDICT, body=body)
    assert (response.status, _error(response)) == (status, message)


def test_nan_tokens_in_and_out(harness: RestHarness) -> None:
    response = harness.post(PREDICT, body=b'{"instances": [NaN, Infinity, 1.0]}')
    assert response.status == 200
    assert response.body == b'{"predictions":[NaN,Infinity,2.5]}'


def test_parse_errors_come_before_unknown_model(harness: RestHarness) -> None:
    assert harness.post("/v1/models/nope:predict", body=b"{").status == 400


def test_unknown_model_comes_before_payload_errors(harness: RestHarness) -> None:
    assert harness.post("/v1/models/nope:predict", {"instances": "x"}).status == 404


def test_classify_errors(harness: RestHarness) -> None:
    unknown_signature = harness.post(
        "/v1/models/half_plus_two:classify", {"signature_name": "nope", "examples": [{"x": 1.0}]}
    )
    assert (unknown_signature.status, _error(unknown_signature)) == (
        400,
        "No signature was found with the name: nope",
    )
    no_examples = harness.post("/v1/models/nope:regress", {"context": {}})
    assert no_examples.status == 400
    assert "When method is classify, key 'examples' is expected" in _error(no_examples)


def test_unsupported_input_dtype_is_501_in_columnar_format() -> None:
    harness = RestHarness()
    harness.add_model(
        "half",
        1,
        FakeModel({"serving_default": echo_signature("serving_default", {"h": DataType.DT_HALF})}),
    )
    columnar = harness.post("/v1/models/half:predict", {"inputs": [1.0]})
    assert (columnar.status, _error(columnar)) == (
        501,
        "Conversion of JSON Value: 1.0 to type: half",
    )
    row = harness.post("/v1/models/half:predict", {"instances": [1.0]})
    assert row.status == 400


def test_multi_input_model_round_trips_every_dtype() -> None:
    harness = RestHarness()
    inputs = {
        "f": DataType.DT_FLOAT,
        "i": DataType.DT_INT64,
        "b": DataType.DT_BOOL,
        "s": DataType.DT_STRING,
        "raw_bytes": DataType.DT_STRING,
    }
    harness.add_model(
        "echo", 1, FakeModel({"serving_default": echo_signature("serving_default", inputs)})
    )
    row = {"f": [0.5, 1.5], "i": 2**40, "b": True, "s": "héllo", "raw_bytes": {"b64": "AAE="}}
    response = harness.post("/v1/models/echo:predict", {"instances": [row, row]})
    assert response.status == 200
    assert response.json() == {"predictions": [row, row]}
    columnar = harness.post("/v1/models/echo:predict", {"inputs": row})
    assert columnar.json() == {"outputs": row}


# Transport features.


def test_gzip_request_bodies_are_decompressed(harness: RestHarness) -> None:
    body = gzip.compress(json.dumps({"instances": [1.0]}).encode())
    response = harness.post(PREDICT, body=body, headers=[("Content-Encoding", "gzip")])
    assert response.json() == {"predictions": [2.5]}


def test_gzip_bomb_becomes_an_empty_document(make_harness: Any) -> None:
    harness = make_harness(max_decompressed_bytes=1024 * 1024)
    harness.add_model("half_plus_two", 1, FakeModel())
    bomb = gzip.compress(b" " * (20 * 1024 * 1024))
    response = harness.post(PREDICT, body=bomb, headers=[("Content-Encoding", "gzip")])
    assert (response.status, _error(response)) == (400, "JSON Parse error: The document is empty")


def test_oversized_body_is_413(make_harness: Any) -> None:
    harness = make_harness(max_body_bytes=100)
    harness.add_model("half_plus_two", 1, FakeModel())
    response = harness.post(PREDICT, {"instances": [1.0] * 100}, chunk_size=16)
    assert response.status == 413
    assert _error(response) == "Request body is larger than the limit of 100 bytes"
    # The status and the recorded code come from one table (http_status.py), not two.
    assert harness.observer.finished[-1][3] is Code.RESOURCE_EXHAUSTED
    assert error_http_status(PayloadTooLarge(100)) == response.status


def test_large_bodies_are_converted_off_the_loop_with_the_same_answer(make_harness: Any) -> None:
    harness = make_harness(offload_bytes=10)
    harness.add_model("half_plus_two", 1, FakeModel())
    assert harness.post(PREDICT, {"instances": [1.0, 2.0]}).json() == {"predictions": [2.5, 3.0]}
    regress = harness.post("/v1/models/half_plus_two:regress", {"examples": [{"x": 1.0}]})
    assert regress.json() == {"results": [2.5]}
    gzipped = gzip.compress(b'{"instances": [5.0]}')
    response = harness.post(PREDICT, body=gzipped, headers=[("content-encoding", "gzip")])
    assert response.json() == {"predictions": [4.5]}


def test_non_v1_paths_get_a_plain_text_404(harness: RestHarness) -> None:
    for path in ("/", "/v1", "/favicon.ico"):
        response = harness.get(path)
        assert response.status == 404
        assert response.headers["content-type"].startswith("text/plain")


def test_malformed_requests_under_v1(harness: RestHarness) -> None:
    response = harness.request("PUT", "/v1/models/half_plus_two")
    assert (response.status, _error(response)) == (
        400,
        "Malformed request: PUT /v1/models/half_plus_two",
    )
    verb = harness.post("/v1/models/half_plus_two:PREDICT", {"instances": [1.0]})
    assert _error(verb) == "Malformed request: POST /v1/models/half_plus_two:PREDICT"


def test_query_strings_do_not_affect_routing(harness: RestHarness) -> None:
    response = harness.post(PREDICT + "?debug=1", {"instances": [1.0]})
    assert response.status == 200


def test_cors_preflight_and_headers(make_harness: Any) -> None:
    harness = make_harness(enable_cors=True)
    harness.add_model("half_plus_two", 1, FakeModel())
    ok = harness.request("OPTIONS", PREDICT, headers=[("Origin", "https://example.com")])
    assert (ok.status, ok.body) == (200, b"")
    assert ok.headers["access-control-allow-origin"] == "*"
    assert ok.headers["access-control-allow-methods"] == "POST, GET"
    assert ok.headers["access-control-allow-headers"] == "Content-Type"
    assert harness.request("OPTIONS", PREDICT).status == 400
    error = harness.get("/v1/models/nope")
    assert error.headers["access-control-allow-origin"] == "*"


def test_no_cors_headers_unless_enabled(harness: RestHarness) -> None:
    response = harness.post(PREDICT, {"instances": [1.0]})
    assert "access-control-allow-origin" not in response.headers
    preflight = harness.request("OPTIONS", PREDICT, headers=[("Origin", "http://x")])
    assert preflight.status == 200


def test_timeout_is_passed_to_the_model(make_harness: Any) -> None:
    harness = make_harness(timeout_s=2.5)
    model = harness.add_model("half_plus_two", 1, FakeModel())
    harness.post(PREDICT, {"instances": [1.0]})
    assert model.predict_calls[-1][2] == 2.5


def test_backstop_deadline_answers_504_and_holds_the_version_until_the_run_ends(
    make_harness: Any,
) -> None:
    harness = make_harness(timeout_s=0.05, deadline_grace_s=0.05)
    model = harness.add_model("half_plus_two", 1, FakeModel())
    model.release.clear()

    async def scenario() -> None:
        try:
            response = await call_asgi_async(harness.app, "POST", PREDICT, b'{"instances": [1]}')
            assert response.status == 504
            assert _error(response) == "Timed out waiting for notification"
            assert harness.manager.open_handles == 1
        finally:
            model.release.set()
        deadline = asyncio.get_running_loop().time() + 10
        while harness.manager.open_handles and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert harness.manager.open_handles == 0

    asyncio.run(scenario())


def test_every_request_releases_its_version(harness: RestHarness) -> None:
    harness.post(PREDICT, {"instances": [1.0]})
    harness.post(PREDICT, {"instances": ["bad"]})
    harness.get("/v1/models/half_plus_two/metadata")
    harness.post("/v1/models/half_plus_two:classify", {"examples": [{"x": 1.0}]})
    assert harness.manager.open_handles == 0


def test_observer_sees_each_request_with_its_code(harness: RestHarness) -> None:
    harness.post(PREDICT, {"instances": [1.0]})
    harness.post("/v1/models/nope:predict", {"instances": [1.0]})
    harness.get("/v1/models/half_plus_two")
    assert harness.observer.finished == [
        ("half_plus_two", "predict", "REST", Code.OK),
        ("nope", "predict", "REST", Code.NOT_FOUND),
        ("half_plus_two", "GetModelStatus", "REST", Code.OK),
    ]


def test_model_exceptions_become_json_errors(harness: RestHarness) -> None:
    class Broken(FakeModel):
        def predict(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    harness.add_model("broken", 1, Broken())
    response = harness.post("/v1/models/broken:predict", {"instances": [1.0]})
    assert (response.status, _error(response)) == (500, "RuntimeError: boom")


# Our own routes.


def test_healthz(harness: RestHarness) -> None:
    response = harness.get("/healthz")
    assert (response.status, response.json()) == (200, {"status": "ok"})


def test_readyz_by_default_needs_an_available_version_of_every_model(harness: RestHarness) -> None:
    assert harness.get("/readyz").status == 200
    harness.states.publish(ServableState(ServableId("other", 1), ManagerState.LOADING))
    response = harness.get("/readyz")
    assert response.status == 503
    assert response.json()["models"] == {"half_plus_two": True, "other": False}


def test_readyz_uses_the_readiness_callback(make_harness: Any) -> None:
    harness = make_harness(readiness=lambda: (False, {"m": "no AVAILABLE version"}))
    response = harness.get("/readyz")
    assert response.status == 503
    assert response.json() == {"status": "not ready", "models": {"m": "no AVAILABLE version"}}


def test_list_models(harness: RestHarness) -> None:
    response = harness.get("/tensorserve/v1/models")
    assert response.json() == {
        "models": [
            {
                "name": "half_plus_two",
                "model_version_status": [
                    {
                        "version": "123",
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ],
            }
        ]
    }


def test_extra_routes_get_their_exact_path(make_harness: Any) -> None:
    seen: list[str] = []

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["method"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"metrics"})

    harness = make_harness(extra_routes={"/monitoring/prometheus/metrics": metrics})
    assert harness.get("/monitoring/prometheus/metrics").body == b"metrics"
    assert harness.request("POST", "/monitoring/prometheus/metrics").body == b"metrics"
    assert seen == ["GET", "POST"]
    assert harness.get("/monitoring/prometheus/metrics/x").status == 404


def test_lifespan_events_are_acknowledged(harness: RestHarness) -> None:
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return events.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await harness.app({"type": "lifespan"}, receive, send)

    asyncio.run(run())
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_concurrent_requests_are_answered_independently(harness: RestHarness) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def client(value: float) -> None:
        response = call_asgi(
            harness.app, "POST", PREDICT, json.dumps({"instances": [value]}).encode()
        )
        with lock:
            results.append(response.json()["predictions"][0] == value * 0.5 + 2)

    threads = [threading.Thread(target=client, args=(float(i),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [True] * 8


_json_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.text(max_size=4),
        st.fixed_dictionaries({"b64": st.text(max_size=6)}),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["f", "s", "raw_bytes", "x", "b64"]), inner, max_size=3),
    ),
    max_leaves=12,
)
_documents = st.dictionaries(
    st.sampled_from(["instances", "inputs", "signature_name", "examples", "context"]), _json_value
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    document=st.one_of(_documents.map(lambda d: json.dumps(d).encode()), st.binary(max_size=40)),
    verb=st.sampled_from(["predict", "classify", "regress"]),
)
def test_any_body_gets_a_json_answer_and_never_a_server_error(
    echo_harness: RestHarness, document: bytes, verb: str
) -> None:
    response = echo_harness.post(f"/v1/models/echo:{verb}", body=document)
    assert response.status < 500, response.body
    assert response.headers["content-type"] == "application/json"
    json.loads(response.body)  # parses (NaN tokens allowed)


# Hostile bodies (issue 15): each a 400 in TensorFlow Serving's format, never a 500.

_HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("path", "body", "offset"),
    [
        (PREDICT, f'{{"instances": [{_HUGE}]}}', 15),
        (PREDICT, f'{{"signature_name": {_HUGE}, "instances": [1.0]}}', 19),
        ("/v1/models/half_plus_two:classify", f'{{"examples": [{{"x": {_HUGE}}}]}}', 20),
        ("/v1/models/half_plus_two:regress", f'{{"examples": [{{"x": -{_HUGE}}}]}}', 20),
    ],
)
def test_integer_of_thousands_of_digits_is_a_parse_error(
    harness: RestHarness, path: str, body: str, offset: int
) -> None:
    response = harness.post(path, body=body.encode())
    assert response.status == 400
    assert _error(response) == (
        f"JSON Parse error: Number too big to be stored in double. at offset: {offset}"
    )


@pytest.mark.parametrize(
    ("path", "body", "offset"),
    [
        (PREDICT, b'{"instances": ["\\ud800"]}', 16),
        (PREDICT, b'{"\\udc00": 1, "instances": [1.0]}', 2),
        ("/v1/models/half_plus_two:classify", b'{"examples": [{"\\ud800": 1.0}]}', 16),
        (
            "/v1/models/half_plus_two:classify",
            b'{"context": {"x": "\\udbff"}, "examples": [{}]}',
            19,
        ),
    ],
)
def test_lone_surrogate_escape_is_a_parse_error(
    harness: RestHarness, path: str, body: bytes, offset: int
) -> None:
    response = harness.post(path, body=body)
    assert response.status == 400
    assert _error(response) == (
        f"JSON Parse error: The surrogate pair in string is invalid. at offset: {offset}"
    )


def test_feature_name_of_invalid_utf8_bytes_is_a_400(harness: RestHarness) -> None:
    body = b'{"signature_name": "classify_x_to_y", "examples": [{"\xff": 1.0}]}'
    response = harness.post("/v1/models/half_plus_two:classify", body=body)
    assert response.status == 400
    assert _error(response) == "Feature name: b'\\xff' is not valid UTF-8"


def test_version_of_hundreds_of_digits_is_a_400(harness: RestHarness) -> None:
    for digits in (300, 5000):
        version = "9" * digits
        for method, suffix in (("POST", ":predict"), ("GET", ""), ("GET", "/metadata")):
            path = f"/v1/models/half_plus_two/versions/{version}{suffix}"
            response = harness.request(method, path, body=b'{"instances": [1.0]}')
            assert response.status == 400, (method, suffix, digits)
            assert _error(response) == f"Failed to convert version: {version} to numeric."


def test_unknown_key_nested_500000_levels_is_ignored(harness: RestHarness) -> None:
    depth = 500_000
    junk = b'{"a": ' * depth + b"1" + b"}" * depth
    response = harness.post(PREDICT, body=b'{"instances": [1.0], "junk": ' + junk + b"}")
    assert response.status == 200
    assert response.json() == {"predictions": [2.5]}


def test_deep_signature_name_is_must_be_a_string(harness: RestHarness) -> None:
    depth = 100_000
    body = b'{"signature_name": ' + b"[" * depth + b"]" * depth + b', "instances": [1.0]}'
    response = harness.post(PREDICT, body=body)
    assert response.status == 400
    assert _error(response).endswith("'signature_name' key must be a string value.")


def test_deep_instances_are_refused_with_a_400(harness: RestHarness) -> None:
    depth = 100_000
    response = harness.post(
        PREDICT, body=b'{"instances": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"
    )
    assert response.status == 400
    assert "error" in response.json()
