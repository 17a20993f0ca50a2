"""The REST APIs: convert JSON, delegate to the data plane, convert the answer back.

Checks run in TensorFlow Serving's order: the document is parsed (and, for
classify/regress, fully converted) before the model is looked up, so a bad
body to an unknown model is a 400, not a 404. Bodies above
``RestOptions.offload_bytes`` are converted on the data plane's worker pool so
the event loop stays responsive; small ones inline, where a thread hop would
cost more than the work.

A model run holds its version (``ModelRef``) until the run itself ends, even
when the request gives up first (deadline backstop, client gone), so a
version is never unloaded under a running model.

Call from the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import numpy as np

from tensorserve.core.errors import DeadlineExceeded, InvalidArgument
from tensorserve.dataplane import DataPlane, ModelRef, ModelSpec
from tensorserve.rest.example_json import (
    render_classify_results,
    render_regress_results,
    serialized_examples,
)
from tensorserve.rest.json_document import parse_request_object
from tensorserve.rest.options import RestOptions
from tensorserve.rest.predict_request import RequestFormat, decode_predict_inputs
from tensorserve.rest.predict_response import render_predict_response
from tensorserve.rest.routing import Route
from tensorserve.rest.status_json import render_model_metadata, render_model_status

T = TypeVar("T")


class RestHandlers:
    """One coroutine per API, each ``(route, body) -> response JSON bytes``."""

    def __init__(self, dataplane: DataPlane, options: RestOptions) -> None:
        self._dataplane = dataplane
        self._options = options
        self._timeout_s = options.timeout_s if options.timeout_s and options.timeout_s > 0 else None
        self._backstop_s = (
            None if self._timeout_s is None else self._timeout_s + options.deadline_grace_s
        )

    async def predict(self, route: Route, body: bytes) -> bytes:
        large = len(body) > self._options.offload_bytes
        document, signature_name = await self._convert(large, parse_request_object, body)
        spec = _spec(route, signature_name)
        ref = self._dataplane.acquire(spec)
        try:
            signature = ref.signatures.get(spec.signature)
            if signature is None:
                raise InvalidArgument(
                    f'Serving signature name: "{spec.signature}" not found in signature def'
                )
            input_dtypes = {alias: info.dtype for alias, info in signature.inputs.items()}
            inputs, request_format = await self._convert(
                large, _decode_inputs, document, signature_name, input_dtypes, body
            )
        except BaseException:
            ref.close()
            raise
        outputs = await self._run_model(
            ref, ref.predict(spec.signature, inputs, (), self._timeout_s)
        )
        large_output = sum(np.asarray(a).nbytes for a in outputs.values()) > (
            self._options.offload_bytes
        )
        return await self._convert(large_output, render_predict_response, outputs, request_format)

    async def classify(self, route: Route, body: bytes) -> bytes:
        spec, examples = await self._examples(route, body)
        ref = self._dataplane.acquire(spec)
        result = await self._run_model(ref, ref.classify(spec.signature, examples, self._timeout_s))
        return render_classify_results(result)

    async def regress(self, route: Route, body: bytes) -> bytes:
        spec, examples = await self._examples(route, body)
        ref = self._dataplane.acquire(spec)
        values = await self._run_model(ref, ref.regress(spec.signature, examples, self._timeout_s))
        return render_regress_results(values)

    async def status(self, route: Route, body: bytes) -> bytes:
        """GetModelStatus; a label in the path is ignored (all versions), as in TF Serving."""
        _require_name(route)
        return render_model_status(self._dataplane.model_status(route.model_name, route.version))

    async def metadata(self, route: Route, body: bytes) -> bytes:
        _require_name(route)
        with self._dataplane.acquire(_spec(route, "")) as ref:
            return await self._dataplane.run_blocking(
                lambda: render_model_metadata(
                    route.model_name, ref.id.version, ref.model.signature_def_map()
                )
            )

    async def _examples(self, route: Route, body: bytes) -> tuple[ModelSpec, list[bytes]]:
        large = len(body) > self._options.offload_bytes
        signature_name, examples = await self._convert(large, _parse_examples, body)
        return _spec(route, signature_name), examples

    async def _convert(self, large: bool, fn: Callable[..., T], *args: Any) -> T:
        if large:
            return await self._dataplane.run_blocking(fn, *args)
        return fn(*args)

    async def _run_model(self, ref: ModelRef, run: Coroutine[Any, Any, T]) -> T:
        """Await a model run on ``ref`` and release ``ref`` when the run ends.

        Past the backstop deadline the request fails with DEADLINE_EXCEEDED
        while the run finishes in the background: ``ModelRef`` runs are
        shielded, and ``close`` holds the version until the run has ended.
        """
        try:
            if self._backstop_s is None:
                return await run
            deadline = asyncio.timeout(self._backstop_s)
            try:
                async with deadline:
                    return await run
            except TimeoutError:
                if deadline.expired():
                    raise DeadlineExceeded("Timed out waiting for notification") from None
                raise
        finally:
            ref.close()


def _spec(route: Route, signature_name: str) -> ModelSpec:
    return ModelSpec(route.model_name, route.version, route.label, signature_name)


def _require_name(route: Route) -> None:
    if not route.model_name:
        raise InvalidArgument("Missing model name in request.")


def _decode_inputs(
    document: dict[str, Any], signature_name: str, input_dtypes: dict[str, Any], body: bytes
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    # Without the tokens true/false anywhere in the body, numbers cannot hide booleans,
    # which lets the vectorised decoding trust numpy's type inference.
    may_hold_bools = b"true" in body or b"false" in body
    return decode_predict_inputs(
        document, signature_name, input_dtypes, may_hold_bools=may_hold_bools
    )


def _parse_examples(body: bytes) -> tuple[str, list[bytes]]:
    document, signature_name = parse_request_object(body)
    return signature_name, serialized_examples(document)
