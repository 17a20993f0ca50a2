"""inference.GRPCInferenceService over a fake data plane, through ``tritonclient.grpc``.

The servicer runs on a real grpc.aio server (port 0, its own event loop thread);
the fake data plane records each call and answers ``y = 2 * x`` for model
``twice`` (version 3), so these tests check the codec: what it hands the data
plane and how it renders answers and errors.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tensorserve.core.errors import NotFound, ServableNotFound, ServingError
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.dataplane import (
    Inference,
    InferenceResult,
    ModelDescription,
    ModelSpec,
    RepositoryEntry,
)
from tensorserve.grpc.loop_bridge import LoopBridge
from tensorserve.grpc.server import ASYNCIO, THREADS
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.v2.grpc_service import add_inference_service

MODEL = "twice"
VERSION = 3
SIGNATURE = Signature(
    "serving_default",
    PREDICT_METHOD,
    inputs={"x": TensorInfo("x:0", DataType.DT_FLOAT, (-1, 2))},
    outputs={
        "y": TensorInfo("y:0", DataType.DT_FLOAT, (-1, 2)),
        "n": TensorInfo("n:0", DataType.DT_INT64, (-1,)),
    },
)


class FakeRepository:
    def __init__(self) -> None:
        self.loaded = {MODEL: True}
        self.calls: list[tuple[str, str]] = []

    def index(self) -> list[RepositoryEntry]:
        return [
            RepositoryEntry(name, "3", "READY" if on else "UNAVAILABLE", "" if on else "unloaded")
            for name, on in self.loaded.items()
        ]

    async def load(self, name: str) -> None:
        self._known(name)
        if name == "broken":
            raise NotFound("Could not find base path /models/broken for servable broken")
        self.calls.append(("load", name))
        self.loaded[name] = True

    async def unload(self, name: str) -> None:
        self._known(name)
        self.calls.append(("unload", name))
        self.loaded[name] = False

    def _known(self, name: str) -> None:
        if name not in self.loaded:
            raise NotFound(f"Request for unknown model: '{name}' is not found")


class FakeDataPlane:
    """The data plane surface the V2 codec uses, for one model ``twice``."""

    def __init__(self) -> None:
        self.repository = FakeRepository()
        self.calls: list[Inference] = []
        self.observed: list[tuple[str, str, str, BaseException | None]] = []
        self.converted: list[int] = []

    def _check(self, spec: ModelSpec) -> None:
        if spec.name != MODEL or spec.version not in (None, VERSION):
            raise ServableNotFound(ServableRequest.specific(spec.name, spec.version or 0))
        if not self.repository.loaded[MODEL]:
            raise ServableNotFound(ServableRequest.latest(spec.name))

    async def predict(
        self, call: Inference, *, missing_signature: Callable[[str], ServingError] | None = None
    ) -> InferenceResult:
        self.calls.append(call)
        self._check(call.spec)
        if call.spec.signature != "serving_default":
            assert missing_signature is not None
            raise missing_signature(call.spec.signature)
        x = call.decode(SIGNATURE)["x"]
        outputs = {"y": x * 2, "n": np.arange(x.shape[0], dtype=np.int64)}
        if call.output_filter:
            outputs = {name: outputs[name] for name in call.output_filter}
        return InferenceResult(outputs, ServableId(MODEL, VERSION), "serving_default", SIGNATURE)

    async def describe(self, spec: ModelSpec) -> ModelDescription:
        self._check(spec)
        return ModelDescription(
            ServableId(MODEL, VERSION), {"serving_default": SIGNATURE}, "tensorflow"
        )

    def model_ready(self, name: str, version: int | None = None) -> bool:
        return name == MODEL and version in (None, VERSION) and self.repository.loaded[MODEL]

    def server_ready(self) -> bool:
        return all(self.repository.loaded.values())

    def model_status(self, name: str, version: int | None = None) -> list[ServableState]:
        if name != MODEL:
            raise NotFound(f"Could not find any versions of model {name}")
        return [
            ServableState(ServableId(name, VERSION), ManagerState.AVAILABLE),
            ServableState(ServableId(name, 1), ManagerState.END),
        ]

    async def convert(self, size_bytes: int, fn: Callable[..., Any], *args: Any) -> Any:
        self.converted.append(size_bytes)
        return fn(*args)

    def observe(
        self, model: str, api: str, protocol: str, error: BaseException | None, started: float
    ) -> None:
        self.observed.append((model, api, protocol, error))


class Harness:
    """A server with only the V2 service, on its own loop thread: grpc.aio's, or the
    threaded one (``kind``) that runs the same handlers on the loop through a bridge."""

    def __init__(self, kind: str) -> None:
        self.dataplane = FakeDataPlane()
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server, self.port = self.call(self._start())

    async def _start(self) -> tuple[Any, int]:
        if self.kind == THREADS:
            server: Any = LoopBridge(grpc.server(ThreadPoolExecutor(4)), self.loop)
        else:
            server = grpc.aio.server()
        add_inference_service(server, self.dataplane)
        port = server.add_insecure_port("127.0.0.1:0")
        if self.kind == THREADS:
            server.start()
        else:
            await server.start()
        return server, port

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        if self.kind == THREADS:
            self.server.stop(0).wait(30)
        else:
            self.call(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


@pytest.fixture(scope="module", params=[THREADS, ASYNCIO])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    opened = Harness(request.param)
    yield opened
    opened.close()


@pytest.fixture
def dataplane(harness: Harness) -> Iterator[FakeDataPlane]:
    harness.dataplane.calls.clear()
    harness.dataplane.observed.clear()
    harness.dataplane.converted.clear()
    yield harness.dataplane
    harness.dataplane.repository.loaded = {MODEL: True}


@pytest.fixture(scope="module")
def client(harness: Harness) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(f"127.0.0.1:{harness.port}") as opened:
        yield opened


@pytest.fixture(scope="module")
def stub(harness: Harness) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{harness.port}") as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


X = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)


def x_input(array: np.ndarray = X, datatype: str = "FP32") -> list[triton.InferInput]:
    tensor = triton.InferInput("x", list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return [tensor]


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as info:
        call(*args, **kwargs)
    return info.value


def test_health_answers_booleans(
    client: triton.InferenceServerClient, dataplane: FakeDataPlane
) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, str(VERSION))
    assert not client.is_model_ready("unknown")
    assert not client.is_model_ready("")
    dataplane.repository.loaded[MODEL] = False
    assert not client.is_server_ready()


def test_a_malformed_version_in_model_ready_is_invalid_argument(
    client: triton.InferenceServerClient,
) -> None:
    error = error_of(client.is_model_ready, MODEL, "-1")
    assert error.status() == "StatusCode.INVALID_ARGUMENT"


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata.name == "tensorserve"
    assert list(metadata.extensions) == ["binary_tensor_data", "parameters", "model_repository"]


def test_model_metadata_comes_from_the_neutral_signature(
    client: triton.InferenceServerClient,
) -> None:
    metadata = client.get_model_metadata(MODEL, as_json=True)
    assert metadata == {
        "name": MODEL,
        "versions": ["3"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": ["-1", "2"]}],
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": ["-1", "2"]},
            {"name": "n", "datatype": "INT64", "shape": ["-1"]},
        ],
    }
    assert client.get_model_metadata(MODEL, "3").versions == ["3"]


def test_metadata_of_an_unknown_model_is_not_found(client: triton.InferenceServerClient) -> None:
    error = error_of(client.get_model_metadata, "unknown")
    assert error.status() == "StatusCode.NOT_FOUND"
    assert error.message() == "Request for unknown model: 'unknown' is not found"


def test_infer_hands_the_data_plane_one_call_and_answers_raw(
    client: triton.InferenceServerClient, dataplane: FakeDataPlane
) -> None:
    result = client.infer(
        MODEL,
        x_input(),
        model_version="3",
        request_id="abc",
        parameters={"signature_name": "serving_default"},
        client_timeout=20,
    )
    (call,) = dataplane.calls
    assert call.spec == ModelSpec(MODEL, 3, signature_name="serving_default")
    assert call.protocol == "V2_GRPC"
    assert call.output_filter == []
    # The offload hint is the message's size on the wire, which carries the tensor.
    assert X.nbytes <= call.size_hint < X.nbytes + 200
    assert call.timeout_s is not None and 0 < call.timeout_s <= 21  # the client deadline
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == (MODEL, "3", "abc")
    np.testing.assert_array_equal(result.as_numpy("y"), X * 2)
    assert result.as_numpy("n").tolist() == [0, 1]
    assert len(response.raw_output_contents) == 2
    assert dataplane.converted == [X.nbytes + 2 * 8]  # the answer is rendered through convert


def test_requested_outputs_are_the_output_filter_in_their_order(
    client: triton.InferenceServerClient, dataplane: FakeDataPlane
) -> None:
    outputs = [triton.InferRequestedOutput("n"), triton.InferRequestedOutput("y")]
    result = client.infer(MODEL, x_input(), outputs=outputs)
    assert dataplane.calls[0].output_filter == ["n", "y"]
    assert [output.name for output in result.get_response().outputs] == ["n", "y"]


def test_the_timeout_parameter_bounds_the_deadline(
    stub: service_pb2_grpc.GRPCInferenceServiceStub, dataplane: FakeDataPlane
) -> None:
    request = service_pb2.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    request.raw_input_contents.append(X[:1].tobytes())
    request.parameters["timeout"].int64_param = 250_000  # µs, Triton's unit
    stub.ModelInfer(request, timeout=30)
    assert dataplane.calls[0].timeout_s == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("kwargs", "status", "text"),
    [
        ({"model_name": "unknown"}, "NOT_FOUND", "Request for unknown model: 'unknown' is not"),
        ({"model_version": "7"}, "NOT_FOUND", "model: 'twice' version 7 is not found"),
        ({"model_version": "v3"}, "INVALID_ARGUMENT", "failed to parse version 'v3'"),
        ({"model_version": "99999999999999999999"}, "INVALID_ARGUMENT", "failed to parse"),
        (
            {"parameters": {"signature_name": "other"}},
            "INVALID_ARGUMENT",
            "signature 'other' not found in model 'twice'",
        ),
        ({"parameters": {"signature_name": 3}}, "INVALID_ARGUMENT", "must be a string"),
        ({"outputs": [triton.InferRequestedOutput("z")]}, "INVALID_ARGUMENT", "output 'z'"),
        (
            {"outputs": [triton.InferRequestedOutput("y", class_count=2)]},
            "INVALID_ARGUMENT",
            "classification",
        ),
    ],
)
def test_client_mistakes_get_v2_codes(
    client: triton.InferenceServerClient,
    dataplane: FakeDataPlane,
    kwargs: Mapping[str, Any],
    status: str,
    text: str,
) -> None:
    arguments = {"model_name": MODEL, "inputs": x_input(), **kwargs}
    error = error_of(client.infer, **arguments)
    assert error.status() == f"StatusCode.{status}"
    assert text in error.message()


def test_refusals_before_the_data_plane_are_still_counted(
    client: triton.InferenceServerClient, dataplane: FakeDataPlane
) -> None:
    error_of(client.infer, MODEL, x_input(), model_version="v3")
    assert not dataplane.calls
    ((model, api, protocol, error),) = dataplane.observed
    assert (model, api, protocol) == (MODEL, "predict", "V2_GRPC")
    assert error is not None


@pytest.mark.parametrize(
    ("array", "datatype", "text"),
    [
        (X.astype(np.float64), "FP64", "data-type is 'FP64', but model 'twice' expects 'FP32'"),
        (np.zeros((2, 3), np.float32), "FP32", "Expected [-1, 2], got [2, 3]"),
    ],
)
def test_inputs_that_contradict_the_signature_are_invalid_argument(
    client: triton.InferenceServerClient, array: np.ndarray, datatype: str, text: str
) -> None:
    error = error_of(client.infer, MODEL, x_input(array, datatype))
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert text in error.message()


def test_repository_index_load_and_unload(
    client: triton.InferenceServerClient, dataplane: FakeDataPlane
) -> None:
    (entry,) = client.get_model_repository_index().models
    assert (entry.name, entry.version, entry.state) == (MODEL, "3", "READY")
    client.unload_model(MODEL)
    assert dataplane.repository.calls == [("unload", MODEL)]
    assert not client.get_model_repository_index(as_json=True).get("models") or all(
        model["state"] != "READY"
        for model in client.get_model_repository_index(as_json=True)["models"]
    )
    unloaded = error_of(client.infer, MODEL, x_input())
    assert unloaded.status() == "StatusCode.NOT_FOUND"
    assert unloaded.message() == "Request for unknown model: 'twice' has no available versions"
    client.load_model(MODEL)
    assert dataplane.repository.calls[-1] == ("load", MODEL)
    client.infer(MODEL, x_input())


def test_the_ready_flag_keeps_only_ready_models(
    stub: service_pb2_grpc.GRPCInferenceServiceStub, dataplane: FakeDataPlane
) -> None:
    dataplane.repository.loaded = {MODEL: True, "off": False}
    everything = stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(), timeout=10)
    ready = stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(ready=True), timeout=10)
    assert [model.name for model in everything.models] == [MODEL, "off"]
    assert everything.models[1].reason == "unloaded"
    assert [model.name for model in ready.models] == [MODEL]


def test_repository_errors(client: triton.InferenceServerClient) -> None:
    unknown = error_of(client.load_model, "unknown")
    assert unknown.status() == "StatusCode.NOT_FOUND"
    assert unknown.message() == "Request for unknown model: 'unknown' is not found"
    assert error_of(client.unload_model, "unknown").status() == "StatusCode.NOT_FOUND"
    refused = error_of(client.load_model, MODEL, config="{}")
    assert refused.status() == "StatusCode.INVALID_ARGUMENT"
    assert "load parameter 'config' is not supported" in refused.message()


@pytest.mark.parametrize(
    "rpc",
    ["ModelConfig", "ModelStatistics", "SystemSharedMemoryStatus", "TraceSetting", "LogSettings"],
)
def test_unimplemented_rpcs_say_so(harness: Harness, rpc: str) -> None:
    method = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name[rpc]
    request_class = getattr(service_pb2, method.input_type.name)
    with grpc.insecure_channel(f"127.0.0.1:{harness.port}") as channel:
        call = channel.unary_unary(
            f"/inference.GRPCInferenceService/{rpc}",
            request_serializer=request_class.SerializeToString,
        )
        with pytest.raises(grpc.RpcError) as info:
            call(request_class(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert (
        info.value.details()
        == f"inference.GRPCInferenceService/{rpc} is not implemented by tensorserve"
    )


def test_a_listed_model_whose_load_fails_keeps_the_loads_error(
    client: triton.InferenceServerClient, dataplane: FakeDataPlane
) -> None:
    dataplane.repository.loaded = {MODEL: True, "broken": False}
    error = error_of(client.load_model, "broken")
    assert error.status() == "StatusCode.NOT_FOUND"
    assert error.message() == "Could not find base path /models/broken for servable broken"


def test_stream_infer_answers_an_unreadable_request_inside_the_stream(harness: Harness) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{harness.port}") as channel:
        call = channel.stream_stream(
            "/inference.GRPCInferenceService/ModelStreamInfer",
            request_serializer=lambda data: data,
            response_deserializer=service_pb2.ModelStreamInferResponse.FromString,
        )
        responses = list(call(iter([b"\xff\xff", b"\x0a"]), timeout=10))
    assert len(responses) == 2
    assert all(
        r.error_message.startswith("the request is not a valid ModelInferRequest")
        for r in responses
    )
