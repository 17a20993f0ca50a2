"""The Open Inference Protocol over gRPC, driven by the official ``tritonclient.grpc``
client against the real server process.

Models: a SavedModel with one input per V2 datatype built here (FP32, INT32,
INT64, BOOL, BYTES), a copy of it that the repository tests unload and load,
and TensorFlow Serving's half_plus_two test models (skipped when absent).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException, serialize_byte_tensor

from tests.support.paths import TFSERVING_TESTDATA
from tests.support.server_process import ServerProcess, running_server
from tests.support.typed_models import TYPED_INPUTS, TYPED_OUTPUTS, write_typed_model
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_S = 30.0
V2_SERVICE = "inference.GRPCInferenceService"
HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
DATATYPES = {"f": "FP32", "i32": "INT32", "i64": "INT64", "flag": "BOOL", "text": "BYTES"}


@pytest.fixture(scope="module", params=[(), ("--grpc_server=threads",)], ids=["h2", "threads"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("v2grpc")
    write_typed_model(root / "typed" / "1")
    write_typed_model(root / "reloadable" / "1")
    models = {"typed": root / "typed", "reloadable": root / "reloadable"}
    if HALF_PLUS_TWO.is_dir():
        models["half_plus_two"] = HALF_PLUS_TWO
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'config {{ name: "{name}" base_path: "{path}" model_platform: "tensorflow" }}\n'
            for name, path in models.items()
        )
        + "}\n"
    )
    monitoring = root / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }\n")
    with running_server(
        f"--model_config_file={config}",
        f"--monitoring_config_file={monitoring}",
        "--enable_grpc_healthcheck_service=true",
        *request.param,
    ) as process:
        yield process


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(server.grpc_target) as opened:
        yield opened


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    """The raw generated stub, for requests tritonclient would never build."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def typed_inputs(*names: str) -> list[triton.InferInput]:
    inputs = []
    for name in names or list(TYPED_INPUTS):
        tensor = triton.InferInput(name, list(TYPED_INPUTS[name].shape), DATATYPES[name])
        tensor.set_data_from_numpy(TYPED_INPUTS[name])
        inputs.append(tensor)
    return inputs


def failure(call: object, *args: object, **kwargs: object) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    status = info.value.status()
    assert status not in ("StatusCode.INTERNAL", "StatusCode.UNKNOWN"), info.value
    return info.value


def test_server_is_live_and_ready_and_describes_itself(
    client: triton.InferenceServerClient,
) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata.name == "tensorserve"
    assert "binary_tensor_data" in metadata.extensions
    assert "model_repository" in metadata.extensions


def test_model_readiness_is_a_boolean_even_for_an_unknown_model(
    client: triton.InferenceServerClient,
) -> None:
    assert client.is_model_ready("typed")
    assert client.is_model_ready("typed", "1")
    assert not client.is_model_ready("typed", "9")
    assert not client.is_model_ready("no_such_model")


def test_model_metadata_lists_aliases_v2_datatypes_and_versions(
    client: triton.InferenceServerClient,
) -> None:
    metadata = client.get_model_metadata("typed")
    assert metadata.name == "typed"
    assert list(metadata.versions) == ["1"]
    assert metadata.platform == "tensorflow_savedmodel"
    inputs = {tensor.name: (tensor.datatype, list(tensor.shape)) for tensor in metadata.inputs}
    assert inputs == {name: (datatype, [-1]) for name, datatype in DATATYPES.items()}
    assert {tensor.name for tensor in metadata.outputs} == set(TYPED_OUTPUTS)
    assert client.get_model_metadata("typed", "1").versions == ["1"]


def test_infer_every_datatype_and_read_every_output(client: triton.InferenceServerClient) -> None:
    result = client.infer("typed", typed_inputs(), request_id="req-7")
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == ("typed", "1", "req-7")
    for name, expected in TYPED_OUTPUTS.items():
        array = result.as_numpy(name)
        assert array.dtype == expected.dtype
        np.testing.assert_array_equal(array, expected)
    datatypes = {output.name: output.datatype for output in response.outputs}
    assert datatypes == {
        "f_twice": "FP32",
        "i32_plus_one": "INT32",
        "i64_times_3": "INT64",
        "flag_not": "BOOL",
        "text_shout": "BYTES",
    }


def test_v2_grpc_requests_are_counted_with_their_protocol(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    client.infer("typed", typed_inputs())
    status, body = server.get("/monitoring/prometheus/metrics")
    assert status == 200
    latency = [
        line
        for line in body.decode().splitlines()
        if line.startswith(":tensorflow:serving:request_latency_count")
        and 'model_name="typed"' in line
        and 'entrypoint="V2_GRPC"' in line
    ]
    assert latency and float(latency[0].rsplit(" ", 1)[1]) >= 1


def test_infer_answers_only_the_requested_output(client: triton.InferenceServerClient) -> None:
    requested = [triton.InferRequestedOutput("i64_times_3")]
    result = client.infer("typed", typed_inputs(), outputs=requested, model_version="1")
    assert [output.name for output in result.get_response().outputs] == ["i64_times_3"]
    np.testing.assert_array_equal(result.as_numpy("i64_times_3"), TYPED_OUTPUTS["i64_times_3"])


def test_bytes_that_are_not_utf8_and_empty_tensors_round_trip(
    client: triton.InferenceServerClient,
) -> None:
    text = np.array([b"\xff\xfe", b"", b"\x00a"], dtype=object)
    tensor = triton.InferInput("text", [3], "BYTES")
    tensor.set_data_from_numpy(text)
    inputs = [*typed_inputs("f", "i32", "i64", "flag"), tensor]
    result = client.infer("typed", inputs, outputs=[triton.InferRequestedOutput("text_shout")])
    assert result.as_numpy("text_shout").tolist() == [b"\xff\xfe!", b"!", b"\x00a!"]

    empty = []
    for name, datatype in DATATYPES.items():
        tensor = triton.InferInput(name, [0], datatype)
        tensor.set_data_from_numpy(TYPED_INPUTS[name][:0])
        empty.append(tensor)
    result = client.infer("typed", empty)
    for name in TYPED_OUTPUTS:
        assert result.as_numpy(name).shape == (0,)


def test_typed_contents_are_accepted_and_answered_raw(
    stub: service_pb2_grpc.GRPCInferenceServiceStub,
) -> None:
    request = service_pb2.ModelInferRequest(model_name="typed")
    request.outputs.add(name="f_twice")
    for name, field in [
        ("f", "fp32_contents"),
        ("i32", "int_contents"),
        ("i64", "int64_contents"),
        ("flag", "bool_contents"),
        ("text", "bytes_contents"),
    ]:
        tensor = request.inputs.add(name=name, datatype=DATATYPES[name], shape=[3])
        getattr(tensor.contents, field).extend(TYPED_INPUTS[name].tolist())
    response = stub.ModelInfer(request, timeout=TIMEOUT_S)
    assert not response.outputs[0].HasField("contents")
    result = triton.InferResult(response)
    np.testing.assert_array_equal(result.as_numpy("f_twice"), TYPED_OUTPUTS["f_twice"])


def test_half_plus_two_and_a_tensor_past_four_mib_both_ways(
    client: triton.InferenceServerClient,
) -> None:
    if not HALF_PLUS_TWO.is_dir():
        pytest.skip("TF Serving's test models are not in ../shared")
    x = np.arange(1_500_000, dtype=np.float32).reshape(-1, 1)  # 6 MB
    tensor = triton.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer("half_plus_two", [tensor], model_version="123")
    assert result.get_response().model_version == "123"
    np.testing.assert_allclose(result.as_numpy("y"), x * 0.5 + 2)


@pytest.mark.parametrize(
    ("model", "version", "status", "text"),
    [
        ("no_such_model", "", "StatusCode.NOT_FOUND", "unknown model: 'no_such_model' is not"),
        ("typed", "9", "StatusCode.NOT_FOUND", "unknown model: 'typed' version 9 is not found"),
        ("typed", "one", "StatusCode.INVALID_ARGUMENT", "failed to parse version 'one'"),
    ],
)
def test_unknown_models_and_versions_get_v2_codes(
    client: triton.InferenceServerClient, model: str, version: str, status: str, text: str
) -> None:
    error = failure(client.infer, model, typed_inputs(), model_version=version)
    assert error.status() == status
    assert text in error.message()


def test_bad_inputs_are_invalid_argument_with_the_reason(
    client: triton.InferenceServerClient,
) -> None:
    wrong_type = typed_inputs("i32", "i64", "flag", "text")
    as_fp64 = triton.InferInput("f", [3], "FP64")
    as_fp64.set_data_from_numpy(TYPED_INPUTS["f"].astype(np.float64))
    cases = [
        (typed_inputs("f", "i32"), "expected 5 inputs but got 2 inputs for model 'typed'"),
        ([*wrong_type, as_fp64], "data-type is 'FP64', but model 'typed' expects 'FP32'"),
    ]
    for inputs, text in cases:
        error = failure(client.infer, "typed", inputs)
        assert error.status() == "StatusCode.INVALID_ARGUMENT"
        assert text in error.message()
    unknown_output = [triton.InferRequestedOutput("nope")]
    error = failure(client.infer, "typed", typed_inputs(), outputs=unknown_output)
    assert "unexpected inference output 'nope'" in error.message()


def test_malformed_raw_data_is_invalid_argument(
    stub: service_pb2_grpc.GRPCInferenceServiceStub,
) -> None:
    request = service_pb2.ModelInferRequest(model_name="typed")
    for name, array in TYPED_INPUTS.items():
        request.inputs.add(name=name, datatype=DATATYPES[name], shape=[3])
        raw = serialize_byte_tensor(array).item() if name == "text" else array.tobytes()
        request.raw_input_contents.append(raw)
    stub.ModelInfer(request, timeout=TIMEOUT_S)  # well-formed as it stands
    cases = {
        "f": (b"\x00" * 11, "unexpected total byte size 11 for input 'f'"),
        "text": (b"\x05\x00\x00\x00ab", "BYTES input 'text'"),
    }
    for name, (data, text) in cases.items():
        broken = service_pb2.ModelInferRequest()
        broken.CopyFrom(request)
        broken.raw_input_contents[list(TYPED_INPUTS).index(name)] = data
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(broken, timeout=TIMEOUT_S)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text in str(info.value.details())


def test_a_body_that_is_not_a_request_is_invalid_argument(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        infer = channel.unary_unary(f"/{V2_SERVICE}/ModelInfer")
        with pytest.raises(grpc.RpcError) as info:
            infer(b"\xff\xff\xff", timeout=TIMEOUT_S)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid inference.ModelInferRequest" in str(info.value.details())


def test_rpcs_tensorserve_lacks_answer_unimplemented(
    client: triton.InferenceServerClient, stub: service_pb2_grpc.GRPCInferenceServiceStub
) -> None:
    error = failure(client.get_model_config, "typed")
    assert error.status() == "StatusCode.UNIMPLEMENTED"
    assert "ModelConfig is not implemented" in error.message()
    # ModelStreamInfer is implemented: a bad request is answered inside the stream.
    [answer] = stub.ModelStreamInfer(iter([service_pb2.ModelInferRequest()]), timeout=TIMEOUT_S)
    assert answer.error_message


def test_health_and_reflection_list_the_v2_service(server: ServerProcess) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=V2_SERVICE), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = reflection.ServerReflectionInfo(iter([request]), timeout=10)
    assert V2_SERVICE in {service.name for service in reply.list_services_response.service}


def test_repository_unload_then_load(client: triton.InferenceServerClient) -> None:
    index = {entry.name: entry for entry in client.get_model_repository_index().models}
    assert index["reloadable"].state == "READY"
    assert index["reloadable"].version == "1"
    ready_only = client.get_model_repository_index()
    assert "reloadable" in {entry.name for entry in ready_only.models}

    client.unload_model("reloadable")
    assert not client.is_model_ready("reloadable")
    error = failure(client.infer, "reloadable", typed_inputs())
    assert error.status() == "StatusCode.NOT_FOUND"
    assert "'reloadable' has no available versions" in error.message()
    index = {entry.name: entry for entry in client.get_model_repository_index().models}
    assert index["reloadable"].state != "READY"
    assert client.is_model_ready("typed")  # the others keep serving

    client.load_model("reloadable")
    assert client.is_model_ready("reloadable")
    result = client.infer("reloadable", typed_inputs())
    np.testing.assert_array_equal(result.as_numpy("f_twice"), TYPED_OUTPUTS["f_twice"])


def test_repository_calls_for_an_unknown_model_are_not_found(
    client: triton.InferenceServerClient,
) -> None:
    for call in (client.load_model, client.unload_model):
        assert failure(call, "no_such_model").status() == "StatusCode.NOT_FOUND"


def test_load_parameters_that_would_rewrite_the_model_are_refused(
    client: triton.InferenceServerClient,
) -> None:
    error = failure(client.load_model, "typed", config='{"backend": "python"}')
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    wait_until(lambda: client.is_model_ready("typed"), timeout=TIMEOUT_S, what="typed ready")
