"""Every model on every protocol: one SavedModel, one input, four APIs, the same answer.

The server serves a model with an FP32, INT32, INT64, BOOL and BYTES input; the
same values go through TensorFlow Serving REST (JSON), TensorFlow Serving gRPC
(``tensorflow-serving-api``), V2 REST (``tritonclient.http``, binary tensors)
and V2 gRPC (``tritonclient.grpc``), all to one running server, and every
output must be identical across the four.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from tests.support.server_process import ServerProcess, running_server
from tests.support.typed_models import TYPED_INPUTS, TYPED_OUTPUTS, write_typed_model

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DATATYPES = {"f": "FP32", "i32": "INT32", "i64": "INT64", "flag": "BOOL", "text": "BYTES"}
Outputs = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("every_protocol") / "typed"
    write_typed_model(base / "1")
    with running_server("--model_name=typed", f"--model_base_path={base}") as process:
        yield process


def tf_serving_rest(server: ServerProcess) -> Outputs:
    inputs = {
        name: [v.decode() for v in array] if name == "text" else array.tolist()
        for name, array in TYPED_INPUTS.items()
    }
    status, body = server.post("/v1/models/typed:predict", {"inputs": inputs})
    assert status == 200, body
    outputs = json.loads(body)["outputs"]
    return {
        name: _like(np.array(values, dtype=object if name == "text" else None), name)
        for name, values in outputs.items()
    }


def tf_serving_grpc(server: ServerProcess) -> Outputs:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "typed"
    for name, array in TYPED_INPUTS.items():
        values = array.tolist() if name == "text" else array
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
    return {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}


def v2_rest(server: ServerProcess) -> Outputs:
    import tritonclient.http as triton_http

    with triton_http.InferenceServerClient(f"127.0.0.1:{server.rest_port}") as client:
        return _v2_outputs(client.infer("typed", _v2_inputs(triton_http)))


def v2_grpc(server: ServerProcess) -> Outputs:
    import tritonclient.grpc as triton_grpc

    with triton_grpc.InferenceServerClient(server.grpc_target) as client:
        return _v2_outputs(client.infer("typed", _v2_inputs(triton_grpc)))


def _v2_inputs(client_module: Any) -> list[Any]:
    inputs = []
    for name, array in TYPED_INPUTS.items():
        tensor = client_module.InferInput(name, list(array.shape), DATATYPES[name])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def _v2_outputs(result: Any) -> Outputs:
    return {name: result.as_numpy(name) for name in TYPED_OUTPUTS}


def _like(array: np.ndarray, name: str) -> np.ndarray:
    """A JSON answer as the dtype the model computes (JSON has only numbers and strings)."""
    if name == "text_shout":
        return np.array([value.encode() for value in array], dtype=object)
    return array.astype(TYPED_OUTPUTS[name].dtype)


def test_the_same_model_answers_identically_on_all_four_protocols(
    server: ServerProcess,
) -> None:
    answers = {
        "TF Serving REST": tf_serving_rest(server),
        "TF Serving gRPC": tf_serving_grpc(server),
        "V2 REST": v2_rest(server),
        "V2 gRPC": v2_grpc(server),
    }
    for protocol, outputs in answers.items():
        assert set(outputs) == set(TYPED_OUTPUTS), protocol
        for name, expected in TYPED_OUTPUTS.items():
            assert outputs[name].dtype == expected.dtype, (protocol, name)
            np.testing.assert_array_equal(outputs[name], expected, err_msg=f"{protocol} {name}")
