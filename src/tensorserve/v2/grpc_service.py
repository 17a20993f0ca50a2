"""``inference.GRPCInferenceService`` (the Open Inference Protocol over gRPC) on grpc.aio.

A codec over the data plane, beside TensorFlow Serving's services on the same
port: each RPC reads its request, calls :class:`DataPlane`, and writes the
answer, outputs always raw (OIP spec §5); ``ModelStreamInfer`` streams
(:mod:`tensorserve.v2.grpc_stream`). Liveness and readiness answer with
their boolean and status OK, an unknown model included (Triton does, and
``tritonclient.grpc`` raises on any other status). Errors leave in V2's gRPC
codes (:mod:`tensorserve.v2.grpc_status`). RPCs tensorserve does not implement
(model config, statistics, shared memory, trace, log settings)
answer UNIMPLEMENTED with a message naming them.

Call from the event loop.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc
import numpy as np
import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from tensorserve.core.errors import (
    InvalidArgument,
    ServableNotFound,
    Unimplemented,
    as_answer,
)
from tensorserve.core.servable_state import ManagerState
from tensorserve.dataplane import DataPlane, Inference, ModelSpec
from tensorserve.grpc.received_size import note_received
from tensorserve.grpc.serialized_response import passing_serialized
from tensorserve.servables.signature import DEFAULT_SIGNATURE
from tensorserve.v2.grpc_protos import SERVICE, SERVICE_NAME, service_pb2
from tensorserve.v2.grpc_status import abort_v2
from tensorserve.v2.grpc_stream import model_stream_infer
from tensorserve.v2.grpc_tensors import input_bytes, inputs_decoder, serialized_infer_response
from tensorserve.v2.metadata import (
    render_model_metadata,
    render_repository_index,
    render_server_metadata,
)
from tensorserve.v2.model_errors import missing_signature, require_configured, unknown_model

T = TypeVar("T")
logger = logging.getLogger(__name__)

PROTOCOL = "V2_GRPC"
API = "predict"
"""ModelInfer's ``API`` label in TF Serving's request metrics."""
SIGNATURE_PARAMETER = "signature_name"
"""A string request parameter choosing a signature other than ``serving_default``."""
TIMEOUT_PARAMETER = "timeout"
"""Triton's server-side timeout, int64 microseconds (``tritonclient.grpc`` sends it)."""
MAX_VERSION = 2**63 - 1
_LOAD_PARAMETERS_REFUSED = ("config", "file:")


class InferenceService:
    """The V2 RPCs over one data plane; each method is a grpc.aio unary handler."""

    IMPLEMENTED = (
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
        "RepositoryIndex",
        "RepositoryModelLoad",
        "RepositoryModelUnload",
    )

    def __init__(self, dataplane: DataPlane) -> None:
        self._dataplane = dataplane

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return service_pb2.ServerReadyResponse(ready=self._dataplane.server_ready())

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def ready() -> Any:
            version = parse_version(request.version, request.name)
            is_ready = bool(request.name) and self._dataplane.model_ready(request.name, version)
            return service_pb2.ModelReadyResponse(ready=is_ready)

        return await _answer(context, ready())

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return _from_json(render_server_metadata(), service_pb2.ServerMetadataResponse())

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _answer(context, self._model_metadata(request))

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _answer(context, self._infer(request, context))

    async def RepositoryIndex(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def index() -> Any:
            rows = orjson.loads(
                render_repository_index(self._dataplane.repository.index(), request.ready)
            )
            return json_format.ParseDict({"models": rows}, service_pb2.RepositoryIndexResponse())

        return await _answer(context, index())

    async def RepositoryModelLoad(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def load() -> Any:
            for key in request.parameters:
                if key.startswith(_LOAD_PARAMETERS_REFUSED):
                    raise InvalidArgument(
                        f"load parameter '{key}' is not supported: tensorserve loads "
                        f"'{request.model_name}' as its model config describes it"
                    )
            require_configured(self._dataplane, request.model_name)
            await self._dataplane.repository.load(request.model_name)  # its errors are its own
            return service_pb2.RepositoryModelLoadResponse()

        return await _answer(context, load())

    async def RepositoryModelUnload(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def unload() -> Any:
            # ``unload_dependents`` is accepted: a TensorFlow model has no dependents.
            require_configured(self._dataplane, request.model_name)
            await self._dataplane.repository.unload(request.model_name)
            return service_pb2.RepositoryModelUnloadResponse()

        return await _answer(context, unload())

    async def _model_metadata(self, request: Any) -> Any:
        version = parse_version(request.version, request.name)
        try:
            description = await self._dataplane.describe(ModelSpec(request.name, version))
        except ServableNotFound:
            raise unknown_model(self._dataplane, request.name, version) from None
        signature = description.signatures.get(DEFAULT_SIGNATURE)
        if signature is None:
            raise missing_signature(request.name)(DEFAULT_SIGNATURE)
        if version is not None:
            versions = [version]
        else:
            versions = [
                state.id.version
                for state in self._dataplane.model_status(request.name)
                if state.state == ManagerState.AVAILABLE
            ]
        document = render_model_metadata(request.name, versions, description.platform, signature)
        return _from_json(document, service_pb2.ModelMetadataResponse())

    async def _infer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        name = request.model_name
        requested = [output.name for output in request.outputs]
        call = inference_call(self._dataplane, request, context)
        try:
            result = await self._dataplane.predict(call, missing_signature=missing_signature(name))
        except ServableNotFound:
            raise unknown_model(self._dataplane, name, call.spec.version) from None
        output_bytes = sum(np.asarray(array).nbytes for array in result.outputs.values())
        return await self._dataplane.convert(
            output_bytes,
            serialized_infer_response,
            name,
            result.id.version,
            request.id,
            result.outputs,
            requested,
        )


def inference_call(
    dataplane: DataPlane, request: Any, context: grpc.aio.ServicerContext
) -> Inference:
    """The data plane's call for a ``ModelInferRequest``; a refusal is counted and raised."""
    started = time.perf_counter()
    name = request.model_name
    try:
        return Inference(
            spec=ModelSpec(
                name,
                parse_version(request.model_version, name),
                signature_name=_string_parameter(request.parameters, SIGNATURE_PARAMETER),
            ),
            decode=inputs_decoder(request, name),
            size_hint=input_bytes(request, context),
            output_filter=_requested_outputs(request),
            timeout_s=_timeout_s(context, request.parameters),
            protocol=PROTOCOL,
            api=API,
            started=started,
        )
    except Exception as exc:  # refused before the data plane saw it: count it here
        dataplane.observe(name, API, PROTOCOL, exc, started)
        raise


def add_inference_service(server: Any, dataplane: DataPlane) -> str:
    """Register ``inference.GRPCInferenceService`` on ``server`` (grpc.aio's, or the
    threaded one's :class:`~tensorserve.grpc.loop_bridge.LoopBridge`, which runs
    these ``async def`` handlers on the loop); returns its full name.

    Every RPC of the service is registered: the ones tensorserve lacks answer
    UNIMPLEMENTED naming the RPC, rather than gRPC's bare "Method not found!".
    Requests are parsed in the handler, not by gRPC, so a body that does not
    parse is INVALID_ARGUMENT (a failing deserializer makes gRPC answer UNKNOWN).
    """
    service = InferenceService(dataplane)
    handlers = {}
    for method in SERVICE.methods:
        response_class = getattr(service_pb2, method.output_type.name)
        if method.name in InferenceService.IMPLEMENTED:
            request_class = getattr(service_pb2, method.input_type.name)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _parsing(request_class, getattr(service, method.name)),
                response_serializer=passing_serialized(response_class.SerializeToString),
            )
            continue
        if method.name == "ModelStreamInfer":
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                functools.partial(model_stream_infer, dataplane, inference_call),
                response_serializer=response_class.SerializeToString,
            )
            continue
        make_handler = (
            grpc.stream_stream_rpc_method_handler
            if method.client_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make_handler(
            _unimplemented(f"{SERVICE_NAME}/{method.name}"),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
    return SERVICE_NAME


def parse_version(text: str, model: str) -> int | None:
    """A V2 version string as a version number; empty = the latest. InvalidArgument
    unless it is a non-negative integer (Triton's rule)."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_VERSION:
        raise InvalidArgument(
            f"failed to parse version '{text}' of model '{model}': "
            "a version is a non-negative integer"
        )
    return int(text)


async def _answer(context: grpc.aio.ServicerContext, work: Awaitable[T]) -> T:
    """Await ``work``; end the RPC in V2's codes on error."""
    try:
        return await work
    except Exception as exc:
        error = as_answer(exc)
        if error is not exc:
            logger.exception("V2 gRPC call failed unexpectedly")
        await abort_v2(context, error)


def _from_json(document: bytes, message: Any) -> Any:
    """``message`` filled from the V2 REST codec's JSON for the same answer, so both
    protocols describe servers, models and repositories from one source."""
    return json_format.ParseDict(orjson.loads(document), message)


def _parsing(
    request_class: Any, handler: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def parse_then_handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        note_received(len(data))
        try:
            request = request_class.FromString(data)
        except (DecodeError, ValueError, RuntimeError) as exc:  # the client's bytes, whatever broke
            await abort_v2(
                context,
                InvalidArgument(
                    f"the request is not a valid {request_class.DESCRIPTOR.full_name}: {exc}"
                ),
            )
        return await handler(request, context)

    return parse_then_handle


def _unimplemented(rpc: str) -> Callable[..., Awaitable[None]]:
    async def unimplemented(request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_v2(context, Unimplemented(f"{rpc} is not implemented by tensorserve"))

    return unimplemented


def _requested_outputs(request: Any) -> list[str]:
    for output in request.outputs:
        if "classification" in output.parameters:
            raise InvalidArgument(
                f"output '{output.name}' asks for classification, which tensorserve's "
                "V2 API does not implement"
            )
    return [output.name for output in request.outputs]


def _string_parameter(parameters: Mapping[str, Any], key: str) -> str:
    if key not in parameters:
        return ""
    parameter = parameters[key]
    if parameter.WhichOneof("parameter_choice") != "string_param":
        raise InvalidArgument(f"request parameter '{key}' must be a string")
    return str(parameter.string_param)


def _timeout_s(context: grpc.aio.ServicerContext, parameters: Mapping[str, Any]) -> float | None:
    """The nearer of the client's deadline and Triton's ``timeout`` parameter (µs)."""
    remaining = context.time_remaining()
    if TIMEOUT_PARAMETER in parameters:
        parameter = parameters[TIMEOUT_PARAMETER]
        if parameter.WhichOneof("parameter_choice") != "int64_param":
            raise InvalidArgument(f"request parameter '{TIMEOUT_PARAMETER}' must be an int64")
        if parameter.int64_param > 0:
            timeout = parameter.int64_param / 1e6
            remaining = timeout if remaining is None else min(remaining, timeout)
    if remaining is None:
        return None
    return max(0.0, remaining) if math.isfinite(remaining) else None
