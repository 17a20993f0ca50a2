"""ONNX and TFLite models served by the real server, over every protocol.

One server holds an ONNX model found by its file (``model_platform: "tensorflow"``), one
configured with ``model_platform: "onnx"``, and one whose ``model.onnx`` is
broken: that version ends in END with a clear error while the others serve.
A second server serves TensorFlow Serving's TFLite test model with
``--prefer_tflite_model``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.support import onnx_models
from tests.support.paths import tfserving_model
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

X = np.array([[1.0], [2.0], [6.0]], np.float32)
Y = np.array([[2.5], [3.0], [5.0]], np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("onnx_serving")
    onnx_models.write_half_plus_two(root / "half" / "1")
    onnx_models.write_two_output(root / "pair" / "1")
    onnx_models.write_broken(root / "broken" / "1")
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "half" base_path: "{root / "half"}" model_platform: "tensorflow" }}\n'
        f'  config {{ name: "pair" base_path: "{root / "pair"}" model_platform: "onnx" }}\n'
        f'  config {{ name: "broken" base_path: "{root / "broken"}" model_platform: "onnx" }}\n'
        "}\n"
    )
    # A failed load is retried, as in TensorFlow Serving (60 s apart); this test wants
    # the first failure to be final.
    with running_server(f"--model_config_file={config}", "--max_num_load_retries=0") as process:
        wait_until(lambda: process.model_states("half") == {1: "AVAILABLE"}, timeout=60)
        yield process


def _tf_serving_grpc_predict(server: ServerProcess, name: str, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
    return np.asarray(tf.make_ndarray(response.outputs["y"]))


def _v2_predict(client_module: object, client: object, name: str, x: np.ndarray) -> np.ndarray:
    tensor = client_module.InferInput("x", list(x.shape), "FP32")  # type: ignore[attr-defined]
    tensor.set_data_from_numpy(x)
    return np.asarray(client.infer(name, [tensor]).as_numpy("y"))  # type: ignore[attr-defined]


def test_onnx_model_answers_on_all_four_protocols(server: ServerProcess) -> None:
    import tritonclient.grpc as triton_grpc
    import tritonclient.http as triton_http

    status, body = server.post("/v1/models/half:predict", {"instances": X.tolist()})
    assert status == 200, body
    np.testing.assert_allclose(json.loads(body)["predictions"], Y)
    np.testing.assert_allclose(_tf_serving_grpc_predict(server, "half", X), Y)
    with triton_http.InferenceServerClient(f"127.0.0.1:{server.rest_port}") as client:
        np.testing.assert_allclose(_v2_predict(triton_http, client, "half", X), Y)
    with triton_grpc.InferenceServerClient(server.grpc_target) as client:
        np.testing.assert_allclose(_v2_predict(triton_grpc, client, "half", X), Y)


def test_metadata_shows_the_onnx_signature(server: ServerProcess) -> None:
    status, body = server.get("/v1/models/pair/metadata")
    assert status == 200, body
    signature = json.loads(body)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(signature["inputs"]) == {"a", "b"}
    assert signature["inputs"]["b"]["dtype"] == "DT_INT64"
    status, body = server.get("/v2/models/pair")
    assert status == 200, body
    assert json.loads(body)["platform"] == "onnx"


def test_two_inputs_and_two_outputs_over_rest(server: ServerProcess) -> None:
    body = {"inputs": {"a": [[1.0, 2.0]], "b": [4]}}
    status, answer = server.post("/v1/models/pair:predict", body)
    assert status == 200, answer
    assert json.loads(answer)["outputs"] == {"b_twice": [8], "sum": [3.0]}


def test_a_client_mistake_is_a_400_in_tf_serving_words(server: ServerProcess) -> None:
    status, body = server.post("/v1/models/half:predict", {"inputs": {"z": [[1.0]]}})
    assert status == 400
    assert json.loads(body)["error"] == "Missing named input: x in 'inputs' object."
    status, body = server.post("/v1/models/half:predict", {"instances": [[[1.0]]]})
    assert status == 400, body


def test_a_broken_model_ends_with_a_clear_error_while_others_serve(
    server: ServerProcess,
) -> None:
    status, body = server.get("/v1/models/broken")
    assert status == 200, body
    (version,) = json.loads(body)["model_version_status"]
    assert version["state"] == "END"
    assert version["status"]["error_code"] == "DATA_LOSS"
    assert "ONNX Runtime could not load" in version["status"]["error_message"]
    assert "model.onnx" in version["status"]["error_message"]
    assert server.post("/v1/models/half:predict", {"instances": [[1.0]]})[0] == 200


def test_tflite_models_serve_with_prefer_tflite_model(tmp_path: Path) -> None:
    base = tfserving_model("saved_model_half_plus_two_tflite_with_sigdef")
    with running_server(
        "--model_name=tflite", f"--model_base_path={base}", "--prefer_tflite_model"
    ) as process:
        wait_until(lambda: process.model_states("tflite") == {123: "AVAILABLE"}, timeout=60)
        status, body = process.post("/v1/models/tflite:predict", {"instances": X.tolist()})
        assert status == 200, body
        np.testing.assert_allclose(json.loads(body)["predictions"], Y)
        np.testing.assert_allclose(_tf_serving_grpc_predict(process, "tflite", X), Y)
        assert "has no effect" not in process.log()


def test_onnx_model_answers_with_batching(tmp_path: Path) -> None:
    base = tmp_path / "half"
    onnx_models.write_half_plus_two(base / "1")
    with running_server(
        "--model_name=half", f"--model_base_path={base}", "--enable_batching"
    ) as process:
        wait_until(lambda: process.model_states("half") == {1: "AVAILABLE"}, timeout=60)
        status, body = process.post("/v1/models/half:predict", {"instances": X.tolist()})
        assert status == 200, body
        np.testing.assert_allclose(json.loads(body)["predictions"], Y)


def test_a_server_of_onnx_models_never_loads_tensorflow(server: ServerProcess) -> None:
    """TensorFlow Serving's messages come from tensorserve's descriptors, so TensorFlow
    (seconds and hundreds of MB) is loaded only for a model that needs it."""
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    test_onnx_model_answers_on_all_four_protocols(server)
    assert server.get("/v1/models/pair/metadata")[0] == 200
    assert server.post("/v1/models/half:classify", {"examples": [{"x": 1.0}]})[0] == 400
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "pair"
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def["serving_default"].inputs) == {"a", "b"}
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "/tensorflow/" not in maps
    assert "/onnxruntime/" in maps


def test_a_savedmodel_added_later_brings_tensorflow_while_onnx_keeps_answering(
    tmp_path: Path,
) -> None:
    """TensorFlow is imported by the first version that needs it, here one a config
    reload adds to a running server of ONNX models: it loads and answers, and the ONNX
    model answers every request meanwhile."""
    import threading

    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    from tests.support.saved_models import write_half_plus_two

    onnx_models.write_half_plus_two(tmp_path / "onnx" / "1")
    write_half_plus_two(tmp_path / "saved" / "1", a=2.0, b=1.0)
    entry = 'config {{ name: "{}" base_path: "{}" model_platform: "tensorflow" }}\n'
    onnx_only = entry.format("onnx", tmp_path / "onnx")
    both = onnx_only + entry.format("saved", tmp_path / "saved")
    config = tmp_path / "models.config"
    config.write_text(f"model_config_list {{\n{onnx_only}}}\n")
    with running_server(f"--model_config_file={config}") as process:
        wait_until(lambda: process.model_states("onnx") == {1: "AVAILABLE"}, timeout=60)
        assert "/tensorflow/" not in Path(f"/proc/{process.process.pid}/maps").read_text()
        statuses: list[int] = []
        reloaded = threading.Event()

        def keep_asking() -> None:
            while not reloaded.is_set():
                statuses.append(process.post("/v1/models/onnx:predict", {"instances": [[1.0]]})[0])

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            request = model_management_pb2.ReloadConfigRequest()
            text_format.Parse(f"model_config_list {{\n{both}}}\n", request.config)
            with grpc.insecure_channel(process.grpc_target) as channel:
                stub = model_service_pb2_grpc.ModelServiceStub(channel)
                response = stub.HandleReloadConfigRequest(request, timeout=120)
            assert response.status.error_code == 0, response.status.error_message
        finally:
            reloaded.set()
            asker.join()
        status, body = process.post("/v1/models/saved:predict", {"instances": [1.0]})
        assert status == 200, body
        assert json.loads(body)["predictions"] == [3.0]
        assert "/tensorflow/" in Path(f"/proc/{process.process.pid}/maps").read_text()
        assert statuses and set(statuses) == {200}
