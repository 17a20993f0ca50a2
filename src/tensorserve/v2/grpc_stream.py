"""``ModelStreamInfer``: V2 gRPC's bidirectional stream, with Triton's semantics.

Each ``ModelInferRequest`` read from the stream runs as a streamed inference
(:meth:`~tensorserve.dataplane.DataPlane.stream`): one response per chunk its
signature yields, each a ``ModelInferResponse`` echoing the request ``id``
(a signature that does not stream answers once). A request that fails gets
one response carrying ``error_message`` and the stream goes on with the next,
so ``tritonclient.grpc.start_stream`` callbacks see per-request errors. A
request that sets ``triton_enable_empty_final_response`` also gets an empty
response with ``triton_final_response=true`` after its last chunk. Requests
on one stream run concurrently. When the client cancels or goes away, the
running generator is closed and its version released.

Call from the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from tensorserve.core.errors import InvalidArgument, ServableNotFound, as_answer
from tensorserve.dataplane import DataPlane, Inference
from tensorserve.v2.grpc_protos import service_pb2
from tensorserve.v2.grpc_tensors import infer_response
from tensorserve.v2.model_errors import missing_signature, unknown_model

EMPTY_FINAL_PARAMETER = "triton_enable_empty_final_response"
FINAL_PARAMETER = "triton_final_response"

RESPONSES_QUEUED = 16
"""Responses waiting for the client before the models producing them pause."""
_END = object()

MakeCall = Callable[[DataPlane, Any, grpc.aio.ServicerContext], Inference]

logger = logging.getLogger(__name__)


async def model_stream_infer(
    dataplane: DataPlane,
    make_call: MakeCall,
    requests: AsyncIterator[bytes],
    context: grpc.aio.ServicerContext,
) -> AsyncIterator[Any]:
    """The RPC handler: serialized requests in, ``ModelStreamInferResponse`` out.

    Each request is answered by a task of its own, so requests on one stream run
    concurrently and their responses interleave (matched by ``id``, in order within a
    request); a bounded queue makes a model wait while the client reads slowly.
    """
    responses: asyncio.Queue[Any] = asyncio.Queue(maxsize=RESPONSES_QUEUED)
    answering: set[asyncio.Task[None]] = set()

    async def answer(request: Any) -> None:
        async for response in _answer(dataplane, make_call, request, context):
            await responses.put(response)

    async def read() -> None:
        try:
            async for data in requests:
                try:
                    request = service_pb2.ModelInferRequest.FromString(data)
                except DecodeError as exc:
                    invalid = InvalidArgument(
                        f"the request is not a valid ModelInferRequest: {exc}"
                    )
                    await responses.put(_error(None, invalid))
                    continue
                task = asyncio.create_task(answer(request))
                answering.add(task)
                task.add_done_callback(answering.discard)
            while answering:
                await asyncio.wait(set(answering))
        finally:
            await responses.put(_END)

    reader = asyncio.create_task(read())
    try:
        while (response := await responses.get()) is not _END:
            yield response
    finally:
        # The client is gone or cancelled: close every running stream (their
        # generators' finally blocks run and their versions are released).
        pending = [reader, *answering]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _answer(
    dataplane: DataPlane, make_call: MakeCall, request: Any, context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    name = request.model_name
    requested = [output.name for output in request.outputs]
    call: Inference | None = None
    try:
        call = make_call(dataplane, request, context)
        results = dataplane.stream(call, missing_signature=missing_signature(name))
        async with contextlib.aclosing(results):
            async for result in results:
                response = infer_response(
                    name, result.id.version, request.id, result.outputs, requested
                )
                yield service_pb2.ModelStreamInferResponse(infer_response=response)
    except ServableNotFound:
        version = None if call is None else call.spec.version
        yield _error(request, unknown_model(dataplane, name, version))
        return
    except Exception as exc:
        error = as_answer(exc)
        if error is not exc:
            logger.exception("ModelStreamInfer request failed unexpectedly")
        yield _error(request, error)
        return
    if _wants_empty_final(request):
        final = service_pb2.ModelInferResponse(model_name=name, id=request.id)
        final.parameters[FINAL_PARAMETER].bool_param = True
        yield service_pb2.ModelStreamInferResponse(infer_response=final)


def _wants_empty_final(request: Any) -> bool:
    parameter = request.parameters.get(EMPTY_FINAL_PARAMETER)
    return parameter is not None and parameter.bool_param


def _error(request: Any, error: Exception) -> Any:
    message = getattr(error, "message", str(error))
    response = service_pb2.ModelStreamInferResponse(error_message=message)
    if request is not None:
        response.infer_response.model_name = request.model_name
        response.infer_response.id = request.id
    return response
