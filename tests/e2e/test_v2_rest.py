"""The Open Inference Protocol (V2) over REST, driven by the official ``tritonclient.http``.

One server serves SavedModels built here: ``half_plus_two`` (float32, unknown
rank), ``dtypes`` (one input per FP32/INT32/INT64/BOOL/BYTES), ``two_versions``
(``y = x/2 + 2`` as version 1, ``+ 3`` as version 2, both served) and
``control`` (a copy of half_plus_two that the repository tests unload and load).
A ``tritonclient.http`` client runs on gevent and must stay on the thread that
made it: each test makes its own and closes it.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.support.saved_models import write_dtypes_model, write_half_plus_two
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

httpclient = pytest.importorskip("tritonclient.http")
triton_utils = pytest.importorskip("tritonclient.utils")
InferenceServerException = triton_utils.InferenceServerException

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODELS = ("half_plus_two", "dtypes", "two_versions", "control")


@pytest.fixture(scope="module")
def v2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("v2models")
    write_half_plus_two(root / "half_plus_two" / "1")
    write_half_plus_two(root / "control" / "1")
    write_dtypes_model(root / "dtypes" / "1")
    write_half_plus_two(root / "two_versions" / "1", b=2.0)
    write_half_plus_two(root / "two_versions" / "2", b=3.0)
    blocks = []
    for name in MODELS:
        policy = "model_version_policy { all {} }" if name == "two_versions" else ""
        blocks.append(
            f'config {{ name: "{name}" base_path: "{root / name}" '
            f'model_platform: "tensorflow" {policy} }}'
        )
    config = root / "models.config"
    config.write_text("model_config_list {\n" + "\n".join(blocks) + "\n}\n")
    monitoring = root / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }\n")
    with running_server(
        f"--model_config_file={config}",
        f"--monitoring_config_file={monitoring}",
        "--file_system_poll_wait_seconds=1",
    ) as s:
        wait_until(
            lambda: s.get("/v2/health/ready")[0] == 200, timeout=120, what="every model ready"
        )
        yield s


@pytest.fixture
def client(v2_server: ServerProcess) -> Iterator[Any]:
    triton = httpclient.InferenceServerClient(f"127.0.0.1:{v2_server.rest_port}")
    yield triton
    triton.close()


def infer_input(name: str, array: np.ndarray, datatype: str, binary: bool) -> Any:
    tensor = httpclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


DTYPE_INPUTS = {
    "f": (np.array([1.0, -3.0], np.float32), "FP32"),
    "i32": (np.array([2**31 - 2, -5], np.int32), "INT32"),
    "i64": (np.array([2**40, -(2**61)], np.int64), "INT64"),
    "flag": (np.array([True, False]), "BOOL"),
    "text": (np.array([b"abc", "héllo".encode()], dtype=object), "BYTES"),
}
DTYPE_EXPECTED = {
    "f_half": np.array([0.5, -1.5], np.float32),
    "i32_plus_one": np.array([2**31 - 1, -4], np.int32),
    "i64_doubled": np.array([2**41, -(2**62)], np.int64),
    "flag_not": np.array([False, True]),
    "text_upper": np.array([b"ABC", "HéLLO".encode()], dtype=object),
}


# -- health and metadata ---------------------------------------------------------------


def test_server_is_live_and_ready_and_describes_itself(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "tensorserve"
    assert {"binary_tensor_data", "model_repository"} <= set(metadata["extensions"])


def test_model_readiness_with_and_without_version(client: Any) -> None:
    assert client.is_model_ready("half_plus_two")
    assert client.is_model_ready("two_versions", "1")
    assert client.is_model_ready("two_versions", "2")
    assert not client.is_model_ready("two_versions", "3")
    assert not client.is_model_ready("no_such_model")


def test_model_metadata_lists_aliases_datatypes_and_ready_versions(client: Any) -> None:
    metadata = client.get_model_metadata("dtypes")
    assert metadata["name"] == "dtypes"
    assert metadata["versions"] == ["1"]
    assert metadata["platform"] == "tensorflow_savedmodel"
    assert {(t["name"], t["datatype"], tuple(t["shape"])) for t in metadata["inputs"]} == {
        ("f", "FP32", (-1,)),
        ("i32", "INT32", (-1,)),
        ("i64", "INT64", (-1,)),
        ("flag", "BOOL", (-1,)),
        ("text", "BYTES", (-1,)),
    }
    assert {t["name"]: t["datatype"] for t in metadata["outputs"]}["text_upper"] == "BYTES"


def test_model_metadata_of_one_version(client: Any) -> None:
    assert client.get_model_metadata("two_versions")["versions"] == ["1", "2"]
    assert client.get_model_metadata("two_versions", "1")["versions"] == ["1"]


def test_unknown_rank_is_reported_as_minus_one(client: Any) -> None:
    (x,) = client.get_model_metadata("half_plus_two")["inputs"]
    assert x == {"name": "x", "datatype": "FP32", "shape": [-1]}


# -- inference -------------------------------------------------------------------------


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary_in", "json_in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary_out", "json_out"])
def test_infer_every_datatype_all_outputs(client: Any, binary_in: bool, binary_out: bool) -> None:
    inputs = [infer_input(n, a, d, binary_in) for n, (a, d) in DTYPE_INPUTS.items()]
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_out) for n in DTYPE_EXPECTED]
    result = client.infer("dtypes", inputs, outputs=outputs, request_id="req-7")
    response = result.get_response()
    assert response["model_name"] == "dtypes" and response["model_version"] == "1"
    assert response["id"] == "req-7"
    for name, expected in DTYPE_EXPECTED.items():
        got = result.as_numpy(name)
        if name == "text_upper" and not binary_out:  # JSON BYTES come back as str
            got = np.array([value.encode() for value in got], dtype=object)
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected)


def test_default_infer_sends_and_gets_binary(client: Any) -> None:
    inputs = [infer_input(n, a, d, True) for n, (a, d) in DTYPE_INPUTS.items()]
    result = client.infer("dtypes", inputs)
    assert {o["name"] for o in result.get_response()["outputs"]} == set(DTYPE_EXPECTED)
    np.testing.assert_array_equal(result.as_numpy("i64_doubled"), DTYPE_EXPECTED["i64_doubled"])
    assert result.as_numpy("text_upper").tolist() == [b"ABC", "HéLLO".encode()]


@pytest.mark.parametrize("binary", [True, False])
def test_infer_one_chosen_output(client: Any, binary: bool) -> None:
    inputs = [infer_input(n, a, d, binary) for n, (a, d) in DTYPE_INPUTS.items()]
    outputs = [httpclient.InferRequestedOutput("i32_plus_one", binary_data=binary)]
    result = client.infer("dtypes", inputs, outputs=outputs)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["i32_plus_one"]
    np.testing.assert_array_equal(result.as_numpy("i32_plus_one"), DTYPE_EXPECTED["i32_plus_one"])


@pytest.mark.parametrize("binary", [True, False])
def test_half_plus_two_in_two_dimensions(client: Any, binary: bool) -> None:
    x = np.array([[1.0, 2.0], [5.0, np.nan]], np.float32)
    result = client.infer("half_plus_two", [infer_input("x", x, "FP32", binary)])
    y = result.as_numpy("y")
    assert y.shape == (2, 2)
    np.testing.assert_array_equal(y[0], [2.5, 3.0])
    assert y[1, 0] == 4.5 and np.isnan(y[1, 1])


def test_a_large_json_tensor_is_served_as_its_binary_twin(client: Any) -> None:
    # 2,000 values: the JSON header is parsed natively (v2/json_number_data).
    x = np.random.default_rng(3).random((50, 40)).astype(np.float32)
    answers = [
        client.infer("half_plus_two", [infer_input("x", x, "FP32", binary)]).as_numpy("y")
        for binary in (False, True)
    ]
    np.testing.assert_array_equal(answers[0], answers[1])
    np.testing.assert_allclose(answers[0], x / 2 + 2, rtol=1e-6)


def _json_values(array: np.ndarray) -> list[Any]:
    return [v.decode() if isinstance(v, bytes) else v for v in array.tolist()]


def test_a_large_json_tensor_out_of_its_datatypes_range_is_400(
    v2_server: ServerProcess,
) -> None:
    inputs = [
        {"name": n, "shape": list(a.shape), "datatype": d, "data": _json_values(a)}
        for n, (a, d) in DTYPE_INPUTS.items()
        if n != "i32"
    ]
    big = [*range(2000), 2**31]
    inputs.append({"name": "i32", "shape": [len(big)], "datatype": "INT32", "data": big})
    body = json.dumps({"inputs": inputs}).encode()
    status, _, answer = raw(v2_server, "POST", "/v2/models/dtypes/infer", body)
    assert status == 400
    assert json.loads(answer) == {
        "error": "value 2147483648 of input 'i32' is out of range for INT32 "
        "[-2147483648, 2147483647]"
    }


def test_bytes_in_binary_carry_anything_and_json_refuses_what_is_not_utf8(client: Any) -> None:
    inputs = {**DTYPE_INPUTS, "text": (np.array([b"", b"\xff\x00a"], dtype=object), "BYTES")}
    tensors = [infer_input(n, a, d, True) for n, (a, d) in inputs.items()]
    result = client.infer("dtypes", tensors)
    assert result.as_numpy("text_upper").tolist() == [b"", b"\xff\x00A"]
    outputs = [httpclient.InferRequestedOutput("text_upper", binary_data=False)]
    error = error_of(lambda: client.infer("dtypes", tensors, outputs=outputs))
    assert error.status() == "400" and "not UTF-8" in error.message()


@pytest.mark.parametrize("binary", [True, False])
def test_zero_sized_tensors(client: Any, binary: bool) -> None:
    empty = {n: (a[:0], d) for n, (a, d) in DTYPE_INPUTS.items()}
    tensors = [infer_input(n, a, d, binary) for n, (a, d) in empty.items()]
    result = client.infer("dtypes", tensors)
    assert result.as_numpy("i64_doubled").shape == (0,)


def test_versions_are_addressed_by_number(client: Any) -> None:
    x = np.array([2.0], np.float32)
    latest = client.infer("two_versions", [infer_input("x", x, "FP32", True)])
    first = client.infer("two_versions", [infer_input("x", x, "FP32", True)], model_version="1")
    assert latest.get_response()["model_version"] == "2"
    assert latest.as_numpy("y").tolist() == [4.0]
    assert first.as_numpy("y").tolist() == [3.0]


def test_gzip_and_deflate_requests(v2_server: ServerProcess) -> None:
    triton = httpclient.InferenceServerClient(f"127.0.0.1:{v2_server.rest_port}")
    try:
        for algorithm in ("gzip", "deflate"):
            x = np.array([4.0], np.float32)
            result = triton.infer(
                "half_plus_two",
                [infer_input("x", x, "FP32", True)],
                request_compression_algorithm=algorithm,
            )
            assert result.as_numpy("y").tolist() == [4.0]
    finally:
        triton.close()


def test_v2_requests_are_counted_with_their_entrypoint(
    client: Any, v2_server: ServerProcess
) -> None:
    x = [infer_input("x", np.array([1.0], np.float32), "FP32", True)]
    client.infer("half_plus_two", x)
    status, metrics = v2_server.get("/monitoring/prometheus/metrics")
    assert status == 200
    assert any(
        'entrypoint="V2_REST"' in line and 'model_name="half_plus_two"' in line
        for line in metrics.decode().splitlines()
        if line.startswith(":tensorflow:serving:request_latency")
    )


# -- errors through the client ---------------------------------------------------------


def error_of(call: Any) -> Any:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value


def test_unknown_model_and_version_are_not_found(client: Any) -> None:
    x = [infer_input("x", np.array([1.0], np.float32), "FP32", True)]
    error = error_of(lambda: client.infer("no_such_model", x))
    assert error.status() == "404"
    assert "Request for unknown model: 'no_such_model' is not found" in error.message()
    error = error_of(lambda: client.infer("two_versions", x, model_version="9"))
    assert error.status() == "404" and "version 9" in error.message()
    assert error_of(lambda: client.get_model_metadata("no_such_model")).status() == "404"


@pytest.mark.parametrize("binary", [True, False])
def test_bad_inputs_are_400_with_v2_messages(client: Any, binary: bool) -> None:
    some = {n: DTYPE_INPUTS[n] for n in ("f", "i32", "i64", "flag")}  # "text" left out
    inputs = [infer_input(n, a, d, binary) for n, (a, d) in some.items()]
    error = error_of(lambda: client.infer("dtypes", inputs))
    assert error.status() == "400" and "missing 'text'" in error.message()

    wrong_type = [infer_input("x", np.array([1], np.int32), "INT32", binary)]
    error = error_of(lambda: client.infer("half_plus_two", wrong_type))
    assert error.status() == "400"
    assert "data-type is 'INT32', but model 'half_plus_two' expects 'FP32'" in error.message()

    unknown = [infer_input("nope", np.array([1.0], np.float32), "FP32", binary)]
    error = error_of(lambda: client.infer("half_plus_two", unknown))
    assert "unexpected inference input 'nope'" in error.message()

    x = [infer_input("x", np.array([1.0], np.float32), "FP32", binary)]
    outputs = [httpclient.InferRequestedOutput("nope", binary_data=binary)]
    error = error_of(lambda: client.infer("half_plus_two", x, outputs=outputs))
    assert "unexpected inference output 'nope'" in error.message()


def test_a_shape_that_does_not_fit_the_signature_is_400(client: Any) -> None:
    inputs = [
        infer_input(n, np.stack([a, a]) if n == "f" else a, d, True)
        for n, (a, d) in DTYPE_INPUTS.items()
    ]
    error = error_of(lambda: client.infer("dtypes", inputs))
    assert error.status() == "400"
    assert "unexpected shape for input 'f'" in error.message()


# -- errors on the wire ----------------------------------------------------------------


def raw(
    server: ServerProcess, method: str, path: str, body: bytes = b"", headers: dict | None = None
) -> tuple[int, str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheader("Content-Type") or "", data
    finally:
        conn.close()


def json_error(
    server: ServerProcess, method: str, path: str, body: bytes = b"", **kw: Any
) -> tuple[int, str]:
    status, content_type, data = raw(server, method, path, body, kw.get("headers"))
    assert content_type == "application/json", (status, data)
    return status, json.loads(data)["error"]


FLOAT_X = json.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}]})


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b'{"inputs": [', {}, "JSON Parse error"),
        (b"\xff\xfe garbage", {}, "JSON Parse error"),
        (FLOAT_X.encode()[:-5], {}, "JSON Parse error"),
        (
            FLOAT_X.encode(),
            {"Inference-Header-Content-Length": "abc"},
            "Inference-Header-Content-Length",
        ),
        (
            FLOAT_X.encode(),
            {"Inference-Header-Content-Length": "99999"},
            "larger than the request body",
        ),
        (
            FLOAT_X.encode(),
            {"Inference-Header-Content-Length": "-3"},
            "Inference-Header-Content-Length",
        ),
        (
            FLOAT_X.replace('"data": [1, 2]', '"data": [1, 2, 3]').encode(),
            {},
            "unexpected number of elements 3",
        ),
        (FLOAT_X.replace("FP32", "FLOAT").encode(), {}, "invalid datatype 'FLOAT'"),
        (b"not gzip", {"Content-Encoding": "gzip"}, "not valid gzip"),
    ],
)
def test_malformed_requests_get_400_json(
    v2_server: ServerProcess, body: bytes, headers: dict, message: str
) -> None:
    status, error = json_error(
        v2_server, "POST", "/v2/models/half_plus_two/infer", body, headers=headers
    )
    assert (status, message in error) == (400, True), error


def test_binary_data_cut_short_is_400(v2_server: ServerProcess) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 16},
                }
            ]
        }
    ).encode()
    body = header + np.ones(3, "<f4").tobytes()
    status, error = json_error(
        v2_server,
        "POST",
        "/v2/models/half_plus_two/infer",
        body,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert status == 400 and "unexpected end of binary data for input 'x'" in error


def test_body_shorter_than_content_length_does_not_break_the_server(
    v2_server: ServerProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", v2_server.rest_port), timeout=5) as sock:
        sock.sendall(
            b"POST /v2/models/half_plus_two/infer HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 500\r\n\r\n" + FLOAT_X.encode()[:20]
        )
    assert v2_server.alive()
    assert raw(v2_server, "POST", "/v2/models/half_plus_two/infer", FLOAT_X.encode())[0] == 200


def test_json_request_without_content_type_is_served(v2_server: ServerProcess) -> None:
    status, content_type, data = raw(
        v2_server, "POST", "/v2/models/half_plus_two/infer", FLOAT_X.encode()
    )
    assert (status, content_type) == (200, "application/json")
    output = json.loads(data)["outputs"][0]
    assert output == {"name": "y", "datatype": "FP32", "shape": [2], "data": [2.5, 3.0]}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/nothing/here", 404),
        ("GET", "/v2/models/half_plus_two/versions/x", 404),
        ("GET", "/v2/models/half_plus_two/infer", 405),
        ("DELETE", "/v2", 405),
        ("GET", "/v2/models/half_plus_two/stats", 404),
    ],
)
def test_unknown_routes_and_methods_answer_json(
    v2_server: ServerProcess, method: str, path: str, status: int
) -> None:
    assert json_error(v2_server, method, path)[0] == status


def test_model_not_ready_answers_400_json(v2_server: ServerProcess) -> None:
    assert json_error(v2_server, "GET", "/v2/models/no_such_model/ready")[0] == 400
    status, content_type, _ = raw(v2_server, "GET", "/v2/models/half_plus_two/ready")
    assert (status, content_type) == (200, "application/json")


def test_gzip_bomb_is_refused(v2_server: ServerProcess) -> None:
    body = gzip.compress(b" " * (150 * 1024 * 1024), compresslevel=9)
    status, error = json_error(
        v2_server,
        "POST",
        "/v2/models/half_plus_two/infer",
        body,
        headers={"Content-Encoding": "gzip"},
    )
    assert status == 400 and "inflates past the limit" in error


# -- model control (repository extension) ----------------------------------------------


def index_of(client: Any, name: str) -> list[dict[str, Any]]:
    return [entry for entry in client.get_model_repository_index() if entry["name"] == name]


def test_unload_then_load(client: Any) -> None:
    x = [infer_input("x", np.array([2.0], np.float32), "FP32", True)]
    assert {(e["name"], e["state"]) for e in client.get_model_repository_index()} >= {
        (name, "READY") for name in MODELS
    }

    client.unload_model("control")
    assert not client.is_model_ready("control")
    assert all(entry["state"] != "READY" for entry in index_of(client, "control"))
    error = error_of(lambda: client.infer("control", x))
    assert error.status() == "404"
    assert "Request for unknown model: 'control'" in error.message()
    assert client.infer("half_plus_two", x).as_numpy("y").tolist() == [3.0]

    client.load_model("control")
    assert client.is_model_ready("control")
    assert [e["state"] for e in index_of(client, "control") if e["state"] == "READY"] == ["READY"]
    assert client.infer("control", x).as_numpy("y").tolist() == [3.0]


def test_load_and_unload_of_an_unknown_model_are_not_found(client: Any) -> None:
    error = error_of(lambda: client.load_model("no_such_model"))
    assert error.status() == "404"
    assert "Request for unknown model: 'no_such_model' is not found" in error.message()
    assert error_of(lambda: client.unload_model("no_such_model")).status() == "404"


def test_load_with_a_config_override_is_refused(client: Any) -> None:
    error = error_of(lambda: client.load_model("control", config="{}"))
    assert error.status() == "400" and "not supported" in error.message()


def test_index_can_list_only_ready_models(v2_server: ServerProcess) -> None:
    status, content_type, data = raw(v2_server, "POST", "/v2/repository/index", b'{"ready": true}')
    assert (status, content_type) == (200, "application/json")
    assert {entry["state"] for entry in json.loads(data)} == {"READY"}
