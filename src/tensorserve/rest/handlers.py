"""TensorFlow Serving's REST APIs as a codec on the data plane: parse, call, render.

Checks run in TensorFlow Serving's order: the document is parsed (and, for
classify/regress, fully converted) before the model is looked up, so a bad
body to an unknown model is a 400, not a 404. The data plane owns the rest of
the request (version hold, signature, decode offload, deadline, metrics);
conversions here go through ``DataPlane.convert`` so large bodies and outputs
leave the event loop at the same threshold as everything else.

Call from the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from tensorserve.core.errors import InvalidArgument
from tensorserve.dataplane import DataPlane, ExampleInference, Inference, ModelSpec
from tensorserve.rest.example_json import (
    render_classify_results,
    render_regress_results,
    serialized_examples,
)
from tensorserve.rest.json_document import parse_request_object
from tensorserve.rest.options import RestOptions
from tensorserve.rest.predict_body import parse_predict_body
from tensorserve.rest.predict_response import render_predict_response
from tensorserve.rest.routing import Api, Route
from tensorserve.rest.status_json import render_model_metadata, render_model_status
from tensorserve.servables.signature import Signature
from tensorserve.tfserving import signature_def_map

PROTOCOL = "REST"
PREDICT = Api.PREDICT.value


class RestHandlers:
    """One coroutine per API, each ``(route, body) -> response JSON bytes``.

    Predict, classify and regress are counted by the data plane (a body refused
    before the call is built is counted here); status and metadata by the app.
    """

    def __init__(self, dataplane: DataPlane, options: RestOptions) -> None:
        self._dataplane = dataplane
        self._timeout_s = options.timeout_s if options.timeout_s and options.timeout_s > 0 else None

    async def predict(self, route: Route, body: bytes) -> bytes:
        started = time.perf_counter()
        try:
            request = await self._dataplane.convert(len(body), parse_predict_body, body)
        except Exception as error:
            self._dataplane.observe(route.model_name, PREDICT, PROTOCOL, error, started)
            raise

        def decode(signature: Signature) -> Mapping[str, np.ndarray]:
            # In name order, so errors name the first bad input as they always have.
            inputs_info = signature.inputs
            return request.decode(
                {alias: inputs_info[alias].dtype for alias in sorted(inputs_info)}
            )

        call = Inference(
            _spec(route, request.signature_name),
            decode,
            len(body),
            timeout_s=self._timeout_s,
            protocol=PROTOCOL,
            api=PREDICT,
            started=started,
        )
        result = await self._dataplane.predict(call)
        size = sum(np.asarray(a).nbytes for a in result.outputs.values())
        return await self._dataplane.convert(
            size, render_predict_response, result.outputs, request.request_format
        )

    async def classify(self, route: Route, body: bytes) -> bytes:
        call = await self._examples(route, body, Api.CLASSIFY)
        return render_classify_results((await self._dataplane.classify(call)).result)

    async def regress(self, route: Route, body: bytes) -> bytes:
        call = await self._examples(route, body, Api.REGRESS)
        return render_regress_results((await self._dataplane.regress(call)).result)

    async def status(self, route: Route, body: bytes) -> bytes:
        """GetModelStatus; a label in the path is ignored (all versions), as in TF Serving."""
        _require_name(route)
        return render_model_status(self._dataplane.model_status(route.model_name, route.version))

    async def metadata(self, route: Route, body: bytes) -> bytes:
        _require_name(route)
        description = await self._dataplane.describe(_spec(route, ""))
        return await self._dataplane.run_blocking(
            lambda: render_model_metadata(
                route.model_name, description.id.version, signature_def_map(description.signatures)
            )
        )

    async def _examples(self, route: Route, body: bytes, api: Api) -> ExampleInference:
        started = time.perf_counter()
        try:
            signature_name, examples = await self._dataplane.convert(
                len(body), _parse_examples, body
            )
        except Exception as error:
            self._dataplane.observe(route.model_name, api.value, PROTOCOL, error, started)
            raise
        return ExampleInference(
            _spec(route, signature_name),
            examples,
            timeout_s=self._timeout_s,
            protocol=PROTOCOL,
            api=api.value,
            started=started,
        )


def _spec(route: Route, signature_name: str) -> ModelSpec:
    return ModelSpec(route.model_name, route.version, route.label, signature_name)


def _require_name(route: Route) -> None:
    if not route.model_name:
        raise InvalidArgument("Missing model name in request.")


def _parse_examples(body: bytes) -> tuple[str, list[bytes]]:
    document, signature_name = parse_request_object(body)
    return signature_name, serialized_examples(document)
