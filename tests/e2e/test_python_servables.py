"""Python servables served by the real server: every API, broken versions, composition
and cycles, with TensorFlow Serving's and V2's clients and error formats."""

from __future__ import annotations

import http.client
import json
import queue
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.support.paths import REPO_ROOT, TFSERVING_TESTDATA
from tests.support.python_servables import doubler, write_version
from tests.support.server_process import ServerProcess, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"

SERVABLE_HEADER = """
import numpy as np
import tensorserve

F = tensorserve.TensorSpec("float32", [-1])

def sig(method="predict", streaming=False):
    return tensorserve.Signature(
        inputs={"x": F}, outputs={"y": F}, method=method, streaming=streaming
    )
"""

FAILS = (
    SERVABLE_HEADER
    + """
class Fails(tensorserve.Servable):
    signatures = {"serving_default": sig(), "refuse": sig("refuse"), "count": sig("count", True)}

    def predict(self, inputs, context):
        raise ValueError("boom")

    def refuse(self, inputs, context):
        raise tensorserve.InvalidInput("x must be positive")

    def count(self, inputs, context):
        yield {"y": inputs["x"]}
"""
)

CALLS = (
    SERVABLE_HEADER
    + """
class Calls(tensorserve.Servable):
    signatures = {"serving_default": sig()}

    def predict(self, inputs, context):
        return context.models.predict(TARGET, {"x": inputs["x"]})
"""
)


COUNTER = (
    SERVABLE_HEADER
    + """
class Counter(tensorserve.Servable):
    signatures = {
        "serving_default": tensorserve.Signature(
            inputs={"n": tensorserve.TensorSpec("int64", [1])},
            outputs={"i": tensorserve.TensorSpec("int64", [1])},
            streaming=True,
        ),
        "broken": tensorserve.Signature(
            inputs={"n": tensorserve.TensorSpec("int64", [1])},
            outputs={"i": tensorserve.TensorSpec("int64", [1])},
            method="broken",
            streaming=True,
        ),
    }

    def predict(self, inputs, context):
        for i in range(int(inputs["n"][0])):
            yield {"i": np.array([i])}

    async def broken(self, inputs, context):
        yield {"i": np.array([0])}
        raise RuntimeError("lost the thread")
"""
)

TF_API = (
    SERVABLE_HEADER
    + """
import tensorflow as tf  # the server's lean TensorFlow: tf.* loads on first use

class Squares(tensorserve.Servable):
    signatures = {"serving_default": sig()}

    def predict(self, inputs, context):
        return {"y": tf.math.square(tf.constant(inputs["x"])).numpy()}
"""
)


def _readme_servable() -> str:
    """The README's Python servable, so the tour below runs what it shows."""
    text = (REPO_ROOT / "README.md").read_text()
    block = text[text.index("# models/doubler/1/servable.py") :]
    return block[: block.index("```")]


def _calls(target: str) -> str:
    return CALLS.replace("TARGET", repr(target))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("python-servables")
    write_version(root / "doubler", 1, {"servable.py": _readme_servable()})
    write_version(root / "fails", 1, {"servable.py": FAILS})
    write_version(root / "bad_import", 1, {"servable.py": "import no_such_module_here\n"})
    bad_load = doubler().replace("self.factor = 2.0", "raise RuntimeError('weights missing')")
    write_version(root / "bad_load", 1, {"servable.py": bad_load})
    bad_signature = doubler().replace("def predict(", "def other(")
    write_version(root / "bad_signature", 1, {"servable.py": bad_signature})
    write_version(root / "cycle_a", 1, {"servable.py": _calls("cycle_b")})
    write_version(root / "cycle_b", 1, {"servable.py": _calls("cycle_a")})
    write_version(root / "pipeline", 1, {"servable.py": _calls("half_plus_two")})
    write_version(root / "counter", 1, {"servable.py": COUNTER})
    write_version(root / "tf_api", 1, {"servable.py": TF_API})
    platforms = {name: "python" for name in ("fails", "cycle_a", "cycle_b", "pipeline", "tf_api")}
    models = {p.name: p for p in root.iterdir()}
    if HALF_PLUS_TWO.is_dir():
        models["half_plus_two"] = HALF_PLUS_TWO
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'config {{ name: "{name}" base_path: "{path}" '
            f'model_platform: "{platforms.get(name, "tensorflow")}" }}\n'
            for name, path in models.items()
        )
        + "}\n"
    )
    with running_server(f"--model_config_file={config}", "--max_num_load_retries=0") as process:
        yield process


def _json(answer: tuple[int, bytes]) -> tuple[int, dict]:  # type: ignore[type-arg]
    return answer[0], json.loads(answer[1])


def test_tf_serving_rest_predict_and_metadata(server: ServerProcess) -> None:
    """The README's curl example, then the metadata TF Serving clients read."""
    answer = _json(server.post("/v1/models/doubler:predict", {"instances": [1.0, 2.5]}))
    assert answer == (200, {"predictions": [2.0, 5.0]})
    status, metadata = _json(server.get("/v1/models/doubler/metadata"))
    assert status == 200
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert signature["outputs"]["y"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]


def test_tf_serving_grpc_predict(server: ServerProcess) -> None:
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "doubler"
    request.inputs["x"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)]
            ),
            float_val=[1.0, 2.5],
        )
    )
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
    assert list(response.outputs["y"].float_val) == [2.0, 5.0]
    assert response.model_spec.version.value == 1


def test_v2_rest_infer(server: ServerProcess) -> None:
    request = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.5]}]}
    status, body = _json(server.post("/v2/models/doubler/infer", request))
    assert status == 200, body
    assert body["model_name"] == "doubler" and body["model_version"] == "1"
    assert body["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [2], "data": [2.0, 5.0]}]
    status, metadata = _json(server.get("/v2/models/doubler"))
    assert metadata["platform"] == "python"


def test_v2_grpc_infer(server: ServerProcess) -> None:
    client = triton.InferenceServerClient(server.grpc_target)
    tensor = triton.InferInput("x", [2], "FP32")
    tensor.set_data_from_numpy(np.array([1.0, 2.5], np.float32))
    result = client.infer("doubler", [tensor])
    np.testing.assert_array_equal(result.as_numpy("y"), [2.0, 5.0])
    client.close()


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("bad_import", "No module named 'no_such_module_here'"),
        ("bad_load", "RuntimeError: weights missing"),
        ("bad_signature", "names method 'predict', which Doubler does not define"),
    ],
)
def test_a_broken_version_ends_with_its_error_and_the_server_serves_on(
    server: ServerProcess, model: str, error: str
) -> None:
    status, body = _json(server.get(f"/v1/models/{model}"))
    assert status == 200
    [version] = body["model_version_status"]
    assert version["state"] == "END"
    assert error in version["status"]["error_message"]
    assert _json(server.post("/v1/models/doubler:predict", {"instances": [1.0]}))[0] == 200


def test_user_exceptions_are_internal_and_invalid_input_is_400(server: ServerProcess) -> None:
    status, body = _json(server.post("/v1/models/fails:predict", {"instances": [1.0]}))
    assert (status, body) == (500, {"error": "servable 'fails' version 1 raised ValueError: boom"})
    refused = {"signature_name": "refuse", "instances": [1.0]}
    status, body = _json(server.post("/v1/models/fails:predict", refused))
    assert (status, body) == (400, {"error": "x must be positive"})
    request = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
    status, body = _json(server.post("/v2/models/fails/infer", request))
    assert (status, body["error"]) == (500, "servable 'fails' version 1 raised ValueError: boom")
    client = triton.InferenceServerClient(server.grpc_target)
    tensor = triton.InferInput("x", [1], "FP32")
    tensor.set_data_from_numpy(np.array([1.0], np.float32))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("fails", [tensor], parameters={"signature_name": "refuse"})
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    client.close()


def test_a_unary_request_to_a_streaming_signature_is_refused(server: ServerProcess) -> None:
    request = {"signature_name": "count", "instances": [1.0]}
    status, body = _json(server.post("/v1/models/fails:predict", request))
    assert status == 400
    assert body["error"] == (
        "signature 'count' of model 'fails' is streaming; use ModelStreamInfer or /infer_stream"
    )


def test_a_cycle_gets_an_error(server: ServerProcess) -> None:
    status, body = _json(server.post("/v1/models/cycle_a:predict", {"instances": [1.0]}))
    assert status == 400
    assert "Cycle in model composition: cycle_a -> cycle_b -> cycle_a" in body["error"]


def test_a_python_servable_calls_a_saved_model(server: ServerProcess) -> None:
    if not HALF_PLUS_TWO.is_dir():
        pytest.skip("TensorFlow Serving test data not found")
    answer = _json(server.post("/v1/models/pipeline:predict", {"instances": [1.0, 2.0]}))
    assert answer == (200, {"predictions": [2.5, 3.0]})


def test_a_python_servable_uses_tensorflow_beside_a_saved_model(server: ServerProcess) -> None:
    """The server loads SavedModels on TensorFlow's runtime without its ``tf.*`` API; a
    servable that uses ``tf.*`` gets the whole API, and the SavedModels serve on."""
    answer = _json(server.post("/v1/models/tf_api:predict", {"instances": [3.0, -2.0]}))
    assert answer == (200, {"predictions": [9.0, 4.0]})
    if HALF_PLUS_TWO.is_dir():
        answer = _json(server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]}))
        assert answer == (200, {"predictions": [2.5]})
        answer = _json(server.post("/v1/models/pipeline:predict", {"instances": [2.0]}))
        assert answer == (200, {"predictions": [3.0]})


def _count_request(n: int, signature: str = "serving_default") -> dict:  # type: ignore[type-arg]
    return {
        "inputs": [{"name": "n", "datatype": "INT64", "shape": [1], "data": [n]}],
        "parameters": {"signature_name": signature},
    }


def _events(server: ServerProcess, path: str, body: dict) -> tuple[int, str, list[dict]]:  # type: ignore[type-arg]
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read().decode()
        kind = response.getheader("content-type", "")
    finally:
        connection.close()
    if not kind.startswith("text/event-stream"):
        return response.status, kind, [json.loads(text)]
    events = [json.loads(block[len("data: ") :]) for block in text.split("\n\n") if block]
    return response.status, kind, events


def test_sse_delivers_every_chunk_in_order(server: ServerProcess) -> None:
    status, kind, events = _events(server, "/v2/models/counter/infer_stream", _count_request(5))
    assert (status, kind) == (200, "text/event-stream")
    assert [e["outputs"][0]["data"] for e in events] == [[0], [1], [2], [3], [4]]
    assert {e["model_name"] for e in events} == {"counter"}
    assert {e["model_version"] for e in events} == {"1"}


def test_sse_errors_before_and_after_the_first_chunk(server: ServerProcess) -> None:
    status, _, [error] = _events(server, "/v2/models/missing/infer_stream", _count_request(1))
    assert status == 404 and "missing" in error["error"]
    path = "/v2/models/counter/versions/1/infer_stream"
    status, _, events = _events(server, path, _count_request(1, "broken"))
    assert status == 200
    assert events[0]["outputs"][0]["data"] == [0]
    assert events[1] == {
        "error": "servable 'counter' version 1 raised RuntimeError: lost the thread"
    }


def test_a_unary_v2_request_to_a_streaming_model_is_refused(server: ServerProcess) -> None:
    status, body = _json(server.post("/v2/models/counter/infer", _count_request(2)))
    assert status == 400
    assert "is streaming; use ModelStreamInfer or /infer_stream" in body["error"]


def test_model_stream_infer_delivers_chunks_and_errors_in_the_stream(server: ServerProcess) -> None:
    received: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = triton.InferenceServerClient(server.grpc_target)
    client.start_stream(callback=lambda result, error: received.put((result, error)))

    def send(n: int, request_id: str, signature: str = "serving_default") -> None:
        tensor = triton.InferInput("n", [1], "INT64")
        tensor.set_data_from_numpy(np.array([n], np.int64))
        client.async_stream_infer(
            "counter", [tensor], request_id=request_id, parameters={"signature_name": signature}
        )

    send(4, "first")
    send(1, "second", "nope")
    send(2, "third")
    answers = [received.get(timeout=30) for _ in range(7)]
    client.stop_stream()
    client.close()
    chunks: dict[str, list[int]] = {}
    for result, error in answers:
        if error is None:
            chunks.setdefault(result.get_response().id, []).append(int(result.as_numpy("i")[0]))
    assert chunks == {"first": [0, 1, 2, 3], "third": [0, 1]}  # in order within a request
    [error] = [e for _, e in answers if e is not None]
    assert "signature 'nope' not found in model 'counter'" in error.message()
