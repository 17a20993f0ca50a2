"""The V2 REST APIs: parse the envelope, call the data plane, render the answer.

Each handler takes the matched route, the request body and its headers, and
returns a :class:`V2Response`. Model calls go through ``DataPlane.predict``
(which holds the version, resolves the signature, decodes the inputs inline or
on the worker pool, runs under the deadline and records metrics with the
``V2_REST`` protocol label); model control goes through
``DataPlane.repository``. A JSON body above ``RestOptions.offload_bytes`` is
parsed, and large outputs rendered, on the worker pool.

Version labels are a TensorFlow Serving feature: V2 addresses versions by
number only. V2 has no signatures: ``serving_default`` unless the request
parameter ``signature_name`` names another.

Call from the event loop.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from tensorserve.core.errors import InvalidArgument, NotFound, ServableNotFound
from tensorserve.dataplane import DataPlane, Inference, ModelSpec
from tensorserve.rest.asgi import Scope, header_value
from tensorserve.rest.json_document import parse_json
from tensorserve.rest.options import RestOptions
from tensorserve.servables.signature import DEFAULT_SIGNATURE
from tensorserve.v2.binary_extension import HEADER
from tensorserve.v2.inference_request import (
    InferenceRequest,
    decode_inputs,
    parse_inference_request,
    requested_names,
)
from tensorserve.v2.inference_response import RenderedResponse, render_inference_response
from tensorserve.v2.metadata import (
    render_model_metadata,
    render_repository_index,
    render_server_metadata,
)
from tensorserve.v2.rest_routes import V2Route
from tensorserve.v2.rest_stream import EventStream

PROTOCOL = "V2_REST"
_API = "predict"  # the request_count API label, shared with TF Serving's Predict
_EMPTY_OBJECT = b"{}"


@dataclasses.dataclass(frozen=True, slots=True)
class V2Response:
    """A successful answer: JSON (or JSON + binary outputs) and its status."""

    body: bytes
    header_length: int | None = None
    status: int = 200
    events: EventStream | None = None
    """Set for ``infer_stream``: the events to write instead of ``body``."""


class V2RestHandlers:
    """One coroutine per V2 API, each ``(route, body, scope) -> V2Response``."""

    def __init__(self, dataplane: DataPlane, options: RestOptions) -> None:
        self._dataplane = dataplane
        self._options = options
        self._timeout_s = options.timeout_s if options.timeout_s and options.timeout_s > 0 else None
        self._server_metadata = render_server_metadata()

    async def server_metadata(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        return V2Response(self._server_metadata)

    async def server_live(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        return V2Response(b'{"live":true}')

    async def server_ready(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        if self._dataplane.server_ready():
            return V2Response(b'{"ready":true}')
        return V2Response(
            _error("Server not ready: a configured model has no ready version"), status=400
        )

    async def model_ready(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        """200 when ready; 400 otherwise, an unknown model included (not an error: Triton)."""
        if self._dataplane.model_ready(route.model_name, route.version):
            return V2Response(orjson.dumps({"name": route.model_name, "ready": True}))
        return V2Response(_error("Model version not ready"), status=400)

    async def model_metadata(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        spec = ModelSpec(route.model_name, route.version)
        try:
            description = await self._dataplane.describe(spec)
        except ServableNotFound:
            raise self._unknown_model(route) from None
        signature = description.signatures.get(DEFAULT_SIGNATURE)
        if signature is None:
            raise _missing_signature(route.model_name)(DEFAULT_SIGNATURE)
        versions = [description.id.version] if route.version is not None else self._ready(route)
        return V2Response(
            render_model_metadata(route.model_name, versions, description.platform, signature)
        )

    async def infer(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        name = route.model_name
        request, call = await self._call(route, body, scope)
        try:
            result = await self._dataplane.predict(call, missing_signature=_missing_signature(name))
        except ServableNotFound:
            raise self._unknown_model(route) from None
        output_bytes = sum(np.asarray(a).nbytes for a in result.outputs.values())
        rendered: RenderedResponse = await self._dataplane.convert(
            output_bytes,
            render_inference_response,
            request,
            result.outputs,
            name,
            result.id.version,
            result.signature,
        )
        return V2Response(rendered.body, rendered.header_length)

    async def infer_stream(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        """Server-sent events, one V2 inference response per chunk (``rest_stream``)."""
        request, call = await self._call(route, body, scope)
        results = self._dataplane.stream(
            call, missing_signature=_missing_signature(route.model_name)
        )
        try:
            events = await EventStream.open(request, route.model_name, results)
        except ServableNotFound:
            raise self._unknown_model(route) from None
        return V2Response(b"", events=events)

    async def _call(
        self, route: V2Route, body: bytes, scope: Scope
    ) -> tuple[InferenceRequest, Inference]:
        started = time.perf_counter()
        name = route.model_name
        try:
            header_length = header_value(scope, HEADER)
            request = await self._dataplane.convert(
                len(body), parse_inference_request, body, header_length
            )
        except Exception as error:  # refused before a call exists: still counted
            self._dataplane.observe(name, _API, PROTOCOL, error, started)
            raise
        call = Inference(
            spec=ModelSpec(name, route.version, None, request.signature_name),
            decode=lambda signature: decode_inputs(request, signature, name),
            size_hint=len(body),
            output_filter=requested_names(request),
            timeout_s=_earliest(self._timeout_s, request.timeout_s),
            protocol=PROTOCOL,
            api=_API,
            started=started,
        )
        return request, call

    async def repository_index(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        """Every model of the config with its versions' states; ``{"ready": true}`` filters."""
        document = _optional_object(body, "repository index request")
        ready = document.get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidArgument("'ready' must be a boolean")
        entries = self._dataplane.repository.index()
        return V2Response(render_repository_index(entries, ready_only=ready))

    async def repository_load(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        """Serve the model again with its configured policy; overrides are not supported."""
        parameters = _repository_parameters(body)
        overrides = [key for key in parameters if key == "config" or key.startswith("file:")]
        if overrides:
            raise InvalidArgument(
                f"loading with {overrides[0]!r} is not supported: tensorserve loads models "
                "from their configured base path"
            )
        self._require_configured(route.model_name)
        await self._dataplane.repository.load(route.model_name)  # a load error is its own
        return V2Response(_EMPTY_OBJECT)

    async def repository_unload(self, route: V2Route, body: bytes, scope: Scope) -> V2Response:
        """Stop serving the model (``unload_dependents`` is accepted: there are none)."""
        _repository_parameters(body)
        self._require_configured(route.model_name)
        await self._dataplane.repository.unload(route.model_name)
        return V2Response(_EMPTY_OBJECT)

    def _require_configured(self, name: str) -> None:
        """V2's not-found error for a model the repository does not list."""
        if not any(entry.name == name for entry in self._dataplane.repository.index()):
            raise _not_found(name)

    def _ready(self, route: V2Route) -> list[int]:
        return [
            state.id.version
            for state in self._dataplane.model_status(route.model_name)
            if state.state.name == "AVAILABLE"
        ]

    def _unknown_model(self, route: V2Route) -> NotFound:
        """Triton's wording for a model (version) that cannot serve the request."""
        name = route.model_name
        if route.version is not None:
            return NotFound(
                f"Request for unknown model: '{name}' version {route.version} is not found"
            )
        try:
            known = bool(self._dataplane.model_status(name))
        except NotFound:
            known = False
        if known:
            return NotFound(f"Request for unknown model: '{name}' has no available versions")
        return _not_found(name)


def _not_found(name: str) -> NotFound:
    return NotFound(f"Request for unknown model: '{name}' is not found")


def _missing_signature(model_name: str) -> Callable[[str], InvalidArgument]:
    def error(signature_name: str) -> InvalidArgument:
        return InvalidArgument(
            f"signature '{signature_name}' not found in model '{model_name}' "
            "(choose one with the request parameter 'signature_name')"
        )

    return error


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a, b)


def _optional_object(body: bytes, what: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    document = parse_json(body)
    if not isinstance(document, dict):
        raise InvalidArgument(f"the {what} must be a JSON object")
    return document


def _repository_parameters(body: bytes) -> dict[str, Any]:
    parameters = _optional_object(body, "repository request").get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidArgument("'parameters' must be a JSON object")
    return parameters


def _error(message: str) -> bytes:
    return orjson.dumps({"error": message})
