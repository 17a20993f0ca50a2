"""Request bytes that do not parse end INVALID_ARGUMENT on every method (issue 15: UNKNOWN)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tensorserve.grpc.request_decoding import add_servicer
from tests.grpc.conftest import MODEL, ServerHarness
from tests.grpc.test_server import predict

CORRUPT = b"\xff\xff\xff\xff"
METHODS = {
    "/tensorflow.serving.PredictionService/Predict": "tensorflow.serving.PredictRequest",
    "/tensorflow.serving.PredictionService/Classify": "tensorflow.serving.ClassificationRequest",
    "/tensorflow.serving.PredictionService/Regress": "tensorflow.serving.RegressionRequest",
    "/tensorflow.serving.PredictionService/MultiInference": (
        "tensorflow.serving.MultiInferenceRequest"
    ),
    "/tensorflow.serving.PredictionService/GetModelMetadata": (
        "tensorflow.serving.GetModelMetadataRequest"
    ),
    "/tensorflow.serving.ModelService/GetModelStatus": "tensorflow.serving.GetModelStatusRequest",
    "/tensorflow.serving.ModelService/HandleReloadConfigRequest": (
        "tensorflow.serving.ReloadConfigRequest"
    ),
    "/grpc.health.v1.Health/Check": "grpc.health.v1.HealthCheckRequest",
}


def raw_call(channel: grpc.Channel, method: str, body: bytes) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(method)(body, timeout=10)
    return caught.value  # type: ignore[return-value]


@pytest.mark.parametrize("method", METHODS)
def test_bytes_that_do_not_parse_are_an_invalid_argument(
    harness: ServerHarness, channel: grpc.Channel, method: str
) -> None:
    error = raw_call(channel, method, CORRUPT)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        f"Error parsing message with type '{METHODS[method]}': Wire format was corrupt"
    )
    assert predict(channel).outputs["y"].float_val == [2.5]


def test_a_string_field_that_is_not_utf8_is_an_invalid_argument(channel: grpc.Channel) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.version_label = "zz"
    body = request.SerializeToString().replace(b"zz", b"\xc3(")
    error = raw_call(channel, "/tensorflow.serving.PredictionService/Predict", body)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "Error parsing message with type 'tensorflow.serving.PredictRequest': "
        "String field had bad UTF-8"
    )


class Inference(service_pb2_grpc.GRPCInferenceServiceServicer):
    """Two V2 methods, one unary and one streaming; the rest are the generated stubs."""

    async def ServerLive(
        self, request: service_pb2.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerLiveResponse:
        return service_pb2.ServerLiveResponse(live=True)

    async def ModelStreamInfer(
        self,
        requests: AsyncIterator[service_pb2.ModelInferRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        async for request in requests:
            response = service_pb2.ModelStreamInferResponse()
            response.infer_response.model_name = request.model_name
            yield response


@pytest.fixture(scope="module")
def v2_channel() -> Iterator[grpc.Channel]:
    """The V2 service (as the V2 engineer registers it) on its own grpc.aio server."""
    loop = asyncio.new_event_loop()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        add_servicer(
            server, service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server, Inference()
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_the_v2_service_gets_the_same_answer_on_unary_and_streaming_methods(
    v2_channel: grpc.Channel,
) -> None:
    error = raw_call(v2_channel, "/inference.GRPCInferenceService/ServerLive", CORRUPT)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'inference.ServerLiveRequest': Wire format was corrupt" in str(error.details())
    stub = service_pb2_grpc.GRPCInferenceServiceStub(v2_channel)
    assert stub.ServerLive(service_pb2.ServerLiveRequest(), timeout=10).live

    stream = v2_channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")
    good = service_pb2.ModelInferRequest(model_name="m").SerializeToString()
    with pytest.raises(grpc.RpcError) as caught:
        list(stream(iter([good, CORRUPT]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    answers = stub.ModelStreamInfer(iter([service_pb2.ModelInferRequest(model_name="m")]))
    assert [a.infer_response.model_name for a in answers] == ["m"]

    # A method the servicer leaves to the generated (synchronous) stub still says so.
    with pytest.raises(grpc.RpcError) as caught:
        stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
