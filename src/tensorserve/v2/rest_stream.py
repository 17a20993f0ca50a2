"""Server-sent events for ``POST /v2/models/{name}[/versions/{v}]/infer_stream``.

Each chunk a streaming signature yields is one event, ``data: <V2 inference
response JSON>`` (the same body ``/infer`` answers), in order, pulled from the
model only after the previous event was written. Errors before the first
chunk are ordinary JSON errors with their status (the caller renders them);
an error after it is a last event ``data: {"error": "..."}``, then the stream
ends (Triton's ``generate_stream`` convention). Outputs are JSON only: the
binary extension has no framing inside an event stream.

When the client disconnects the stream stops at once, even while the model
is computing the next chunk: the model's generator is closed (its ``finally``
runs) and the version is released. Call from the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import orjson

from tensorserve.core.errors import InvalidArgument, ServingError, as_answer
from tensorserve.dataplane import InferenceResult
from tensorserve.rest.asgi import Headers, Receive, Send
from tensorserve.v2.inference_request import InferenceRequest
from tensorserve.v2.inference_response import render_inference_response

EVENT_STREAM_HEADERS: Headers = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
)


class EventStream:
    """A started stream whose first event is rendered; :meth:`send` writes it all."""

    def __init__(
        self,
        request: InferenceRequest,
        name: str,
        results: AsyncGenerator[InferenceResult, None],
        first: bytes,
    ) -> None:
        self._request = request
        self._name = name
        self._results = results
        self._first = first

    @classmethod
    async def open(
        cls, request: InferenceRequest, name: str, results: AsyncGenerator[InferenceResult, None]
    ) -> EventStream:
        """Pull and render the first chunk; errors raise (and close ``results``)."""
        try:
            first = await anext(results)
            return cls(request, name, results, _event(request, name, first))
        except BaseException:
            await results.aclose()
            raise

    async def send(self, send: Send, receive: Receive, headers: Headers = ()) -> None:
        """Write every event; stop early when the client goes away."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*EVENT_STREAM_HEADERS, *headers],
            }
        )
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            event: bytes | None = self._first
            while event is not None:
                await send({"type": "http.response.body", "body": event, "more_body": True})
                event = await self._next_event(gone)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (ConnectionResetError, _ClientGone):
            pass  # nobody to answer; closing the results below releases the version
        finally:
            gone.cancel()
            await self._results.aclose()

    async def _next_event(self, gone: asyncio.Future[None]) -> bytes | None:
        step: asyncio.Future[InferenceResult | None] = asyncio.ensure_future(
            anext(self._results, None)
        )
        waits: set[asyncio.Future[object]] = {step, gone}  # type: ignore[arg-type]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not step.done():
            step.cancel()
            with contextlib.suppress(BaseException):
                await step
            raise _ClientGone()
        try:
            result = step.result()
        except Exception as exc:
            error = as_answer(exc)
            return b"data: " + orjson.dumps({"error": error.message}) + b"\n\n"
        if result is None:
            return None
        try:
            return _event(self._request, self._name, result)
        except ServingError as error:
            return b"data: " + orjson.dumps({"error": error.message}) + b"\n\n"


class _ClientGone(Exception):
    pass


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _event(request: InferenceRequest, name: str, result: InferenceResult) -> bytes:
    rendered = render_inference_response(
        request, result.outputs, name, result.id.version, result.signature
    )
    if rendered.header_length is not None:
        raise InvalidArgument(
            "binary outputs cannot be streamed as server-sent events; ask for JSON outputs"
        )
    return b"data: " + rendered.body + b"\n\n"
