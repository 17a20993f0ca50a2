"""``tensorflow.serving.PredictionService`` on grpc.aio, as a codec on the data plane.

Each RPC parses its request into a data plane call, awaits the data plane (which
holds the version, checks the signature, decodes off the loop when large, runs
under the client's deadline and counts the request), and writes the answer
back as TF Serving does (``model_spec`` echoes the name, the version actually
used and the resolved signature). Errors leave as their canonical code with the
message cut at 1024 characters. Call from the event loop.

:class:`ThreadedPredictionService` is the same service for the threaded server:
Predict runs whole on the server's pool thread (``DataPlane.predict_blocking``),
the other RPCs on the loop through :mod:`tensorserve.grpc.loop_bridge`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import TypeVar

import grpc
import numpy as np

from tensorserve.core.errors import FailedPrecondition, InvalidArgument, as_answer
from tensorserve.dataplane import (
    DataPlane,
    ExampleInference,
    Inference,
    InferenceResult,
    ModelSpec,
    RunsOnLoop,
)
from tensorserve.grpc.loop_bridge import LoopContext, run_on_loop, time_remaining_s
from tensorserve.grpc.multi_inference import InferenceTask, plan_tasks
from tensorserve.grpc.predict_response import predict_response
from tensorserve.grpc.proto_conversion import (
    fill_classification_result,
    fill_model_spec,
    fill_regression_result,
    inputs_from_proto,
    model_spec_from_proto,
    request_model_spec,
)
from tensorserve.grpc.received_size import received_bytes
from tensorserve.grpc.serialized_response import SerializedResponse
from tensorserve.grpc.status import (
    abort_with_error,
    grpc_status_code,
    truncate_message,
)
from tensorserve.protos.tfserving import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)
from tensorserve.servables.example_input import serialized_examples
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import CLASSIFY_METHOD, Signature
from tensorserve.tfserving import signature_def_map

T = TypeVar("T")
logger = logging.getLogger(__name__)

PROTOCOL = "GRPC"
SIGNATURE_DEF_FIELD = "signature_def"


def request_size(request: predict_pb2.PredictRequest, context: object) -> int:
    """The request's bytes, which pick where its tensors are decoded: its size on the
    wire (:mod:`~tensorserve.grpc.received_size`), else protobuf's ``ByteSize()`` (about
    0.3 µs for a small request, but it re-encodes the message: 10-33 ms for a 19 MB one)."""
    size = received_bytes(context)
    return size if size is not None else int(request.ByteSize())


def predict_signature_not_found(name: str) -> FailedPrecondition:
    """TF Serving gRPC Predict's error for an unknown signature."""
    return FailedPrecondition(f'Serving signature key "{name}" not found.')


class PredictionService:
    """Predict, Classify, Regress, MultiInference and GetModelMetadata over the data plane.

    ``tensor_content_outputs`` writes Predict outputs as raw ``tensor_content``
    (``--enable_serialization_as_tensor_content``) instead of typed fields.
    """

    def __init__(self, dataplane: DataPlane, *, tensor_content_outputs: bool = False) -> None:
        self._dataplane = dataplane
        self._tensor_content_outputs = tensor_content_outputs

    async def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> SerializedResponse:
        return await self._answer(context, self._predict(request, context), "Predict")

    async def Classify(
        self, request: classification_pb2.ClassificationRequest, context: grpc.aio.ServicerContext
    ) -> classification_pb2.ClassificationResponse:
        return await self._answer(context, self._classify(request, context), "Classify")

    async def Regress(
        self, request: regression_pb2.RegressionRequest, context: grpc.aio.ServicerContext
    ) -> regression_pb2.RegressionResponse:
        return await self._answer(context, self._regress(request, context), "Regress")

    async def MultiInference(
        self, request: inference_pb2.MultiInferenceRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.MultiInferenceResponse:
        return await self._answer(context, self._multi_inference(request, context), "")

    async def GetModelMetadata(
        self,
        request: get_model_metadata_pb2.GetModelMetadataRequest,
        context: grpc.aio.ServicerContext,
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        return await self._answer(context, self._get_model_metadata(request), "")

    async def _predict(
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> SerializedResponse:
        started = time.perf_counter()
        spec = request_model_spec(request)
        call = Inference(
            spec,
            lambda _signature: inputs_from_proto(request.inputs),
            request_size(request, context),
            output_filter=list(request.output_filter),
            timeout_s=context.time_remaining(),
            protocol=PROTOCOL,
            api="Predict",
            started=started,
        )
        result = await self._dataplane.predict(call, missing_signature=predict_signature_not_found)
        size = sum(array.nbytes for array in result.outputs.values())
        return await self._dataplane.convert(size, self._predict_response, spec, result)

    def _predict_response(self, spec: ModelSpec, result: InferenceResult) -> SerializedResponse:
        return predict_response(
            spec.name,
            result.id.version,
            spec.signature,
            result.outputs,
            as_tensor_content=self._tensor_content_outputs,
        )

    async def _classify(
        self, request: classification_pb2.ClassificationRequest, context: grpc.aio.ServicerContext
    ) -> classification_pb2.ClassificationResponse:
        call = self._examples_call(request, context, "Classify")
        result = await self._dataplane.classify(call)
        response = classification_pb2.ClassificationResponse()
        fill_model_spec(
            response.model_spec, call.spec.name, result.id.version, result.signature_name
        )
        fill_classification_result(response.result, result.result)
        return response

    async def _regress(
        self, request: regression_pb2.RegressionRequest, context: grpc.aio.ServicerContext
    ) -> regression_pb2.RegressionResponse:
        call = self._examples_call(request, context, "Regress")
        result = await self._dataplane.regress(call)
        response = regression_pb2.RegressionResponse()
        fill_model_spec(
            response.model_spec, call.spec.name, result.id.version, result.signature_name
        )
        fill_regression_result(response.result, result.result)
        return response

    def _examples_call(
        self,
        request: classification_pb2.ClassificationRequest | regression_pb2.RegressionRequest,
        context: grpc.aio.ServicerContext,
        api: str,
    ) -> ExampleInference:
        started = time.perf_counter()
        spec = request_model_spec(request)
        try:
            examples = serialized_examples(request.input)
        except Exception as error:
            self._dataplane.observe(spec.name, api, PROTOCOL, error, started)
            raise
        return ExampleInference(
            spec,
            examples,
            timeout_s=context.time_remaining(),
            protocol=PROTOCOL,
            api=api,
            started=started,
        )

    async def _multi_inference(
        self, request: inference_pb2.MultiInferenceRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.MultiInferenceResponse:
        # TF Serving resolves the version from the first task (an empty spec if none).
        first = request.tasks[0].model_spec if request.tasks else model_pb2.ModelSpec()
        planned: list[InferenceTask] = []

        def plan(signatures: Mapping[str, Signature]) -> list[tuple[str, str]]:
            planned.extend(plan_tasks(request.tasks, signatures))
            return [(task.signature_name, task.method_name) for task in planned]

        call = ExampleInference(
            model_spec_from_proto(first),
            serialized_examples(request.input),
            timeout_s=context.time_remaining(),
            protocol=PROTOCOL,
            api="MultiInference",
        )
        answer = await self._dataplane.multi_inference(call, plan)
        response = inference_pb2.MultiInferenceResponse()
        for task, outcome in zip(planned, answer.result, strict=True):
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                assert isinstance(outcome, Classifications)
                fill_classification_result(result.classification_result, outcome)
            else:
                fill_regression_result(result.regression_result, np.asarray(outcome))
            fill_model_spec(
                result.model_spec, task.model_name, answer.id.version, task.signature_name
            )
        return response

    async def _get_model_metadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        spec = request_model_spec(request)
        if not request.metadata_field:
            raise InvalidArgument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        for field in request.metadata_field:  # in order, as TF Serving checks them
            if field != SIGNATURE_DEF_FIELD:
                raise InvalidArgument(f"Metadata field {field} is not supported")
            description = await self._dataplane.describe(spec)
            fill_model_spec(response.model_spec, description.id.name, description.id.version, None)
            response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_def_map(description.signatures))
        return response

    async def _answer(self, context: grpc.aio.ServicerContext, work: Awaitable[T], api: str) -> T:
        """Await ``work``; abort the RPC with the error's code and message if it fails."""
        try:
            return await work
        except Exception as exc:
            error = as_answer(exc)
            if error is not exc:
                logger.exception("gRPC %s failed unexpectedly", api or "call")
            await abort_with_error(context, error)


class ThreadedPredictionService(PredictionService):
    """:class:`PredictionService` for the threaded server (``grpc.server``).

    Predict is a plain method: the pool thread that took the RPC parses, runs the
    model and renders the answer, with no hop to the event loop or the worker
    pool; only a signature awaited on the loop (an ``async def`` Python servable)
    goes through grpc.aio's Predict on ``loop``. The other RPCs stay ``async def``
    and run on the loop (rare, or costly enough that a hop does not matter).
    Thread-safe.
    """

    def __init__(
        self,
        dataplane: DataPlane,
        loop: asyncio.AbstractEventLoop,
        *,
        tensor_content_outputs: bool = False,
    ) -> None:
        super().__init__(dataplane, tensor_content_outputs=tensor_content_outputs)
        self._loop = loop

    def Predict(  # type: ignore[override]
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> SerializedResponse:
        try:
            return self._predict_here(request, context)
        except RunsOnLoop:
            on_loop = super().Predict(request, LoopContext(context))  # type: ignore[arg-type]
            return run_on_loop(on_loop, self._loop, context)

    def _predict_here(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> SerializedResponse:
        started = time.perf_counter()
        try:
            spec = request_model_spec(request)
            call = Inference(
                spec,
                lambda _signature: inputs_from_proto(request.inputs),
                request_size(request, context),
                output_filter=list(request.output_filter),
                timeout_s=time_remaining_s(context),
                protocol=PROTOCOL,
                api="Predict",
                started=started,
            )
            result = self._dataplane.predict_blocking(
                call, missing_signature=predict_signature_not_found
            )
            return self._predict_response(spec, result)
        except RunsOnLoop:
            raise
        except Exception as exc:
            error = as_answer(exc)
            if error is not exc:
                logger.exception("gRPC Predict failed unexpectedly")
            context.abort(grpc_status_code(error.code), truncate_message(error.message))
            raise  # pragma: no cover - abort raises
