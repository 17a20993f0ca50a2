"""A REST client for a TensorFlow-Serving-compatible server, as any client would use it.

Every transport or HTTP failure becomes a :mod:`tensorserve.webapp.errors` error with the
status the web app should answer with, so views never see httpx exceptions.
Thread-safe: one ``httpx.Client`` (itself thread-safe) is shared by all request threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from tensorserve.webapp import errors
from tensorserve.webapp.metadata import (
    ModelStatus,
    SignatureSpec,
    parse_model_list,
    parse_signatures,
    parse_version_statuses,
)

MODEL_LIST_PATH = "/tensorserve/v1/models"
MALFORMED_ANSWER_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)
"""What parsing raises on JSON of an unexpected shape (a field of the wrong type...)."""
T = TypeVar("T")


@dataclass(frozen=True)
class PredictResult:
    """The ``predictions`` of a row-format predict call and how long the round trip took."""

    predictions: list[Any]
    round_trip_ms: float


class ModelServerClient:
    """Status, metadata and predict calls against one model server."""

    def __init__(
        self,
        server_url: str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        fallback_models: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self._timeout_description = f"{timeout_s:g} s"
        self._fallback_models = tuple(fallback_models)
        self._http = httpx.Client(
            base_url=self.server_url,
            timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def list_models(self) -> tuple[ModelStatus, ...]:
        """All models with their version states, sorted by name.

        Uses tensorserve's model list; when the server has none (TF Serving answers 404),
        asks for the status of each ``fallback_models`` name instead.
        """
        response = self._send("GET", MODEL_LIST_PATH)
        if response.status_code == 404:
            if not self._fallback_models:
                raise errors.ModelUnavailable(
                    "The model server does not list its models and no --models were given."
                )
            return tuple(self._status_or_error(name) for name in self._fallback_models)
        return parse_answer(parse_model_list, self._json(response))

    def model_status(self, model: str) -> ModelStatus:
        """The state of every version of ``model``; 404 becomes :class:`UnknownModel`."""
        response = self._send("GET", f"/v1/models/{_quote(model)}")
        if response.status_code == 404:
            raise errors.UnknownModel(model, detail=_error_text(response))
        versions = parse_answer(parse_version_statuses, self._json(response))
        return ModelStatus(name=model, versions=versions)

    def signatures(self, model: str, version: str) -> tuple[SignatureSpec, ...]:
        """The signature defs of one version, ``serving_default`` first."""
        response = self._send("GET", f"{_model_path(model, version)}/metadata")
        if response.status_code == 404:
            raise errors.UnknownModel(model, version, detail=_error_text(response))
        return parse_answer(parse_signatures, self._json(response))

    def predict(
        self, model: str, version: str, signature_name: str, instances: list[Any]
    ) -> PredictResult:
        """Run a row-format predict on one exact version, timing the round trip."""
        body = {"signature_name": signature_name, "instances": instances}
        started = time.monotonic()
        response = self._send("POST", f"{_model_path(model, version)}:predict", json=body)
        round_trip_ms = (time.monotonic() - started) * 1000.0
        if response.status_code == 404:
            raise errors.UnknownModel(model, version, detail=_error_text(response))
        payload = self._json(response)
        predictions = payload.get("predictions")
        if not isinstance(predictions, list):
            raise errors.UnexpectedAnswer("the predict answer has no 'predictions' list")
        return PredictResult(predictions=predictions, round_trip_ms=round_trip_ms)

    def _status_or_error(self, model: str) -> ModelStatus:
        try:
            return self.model_status(model)
        except errors.UnknownModel as missing:
            return ModelStatus(name=model, versions=(), error=missing.message)

    def _send(self, method: str, path: str, json: Any = None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=json)
        except httpx.TimeoutException as timeout:
            raise errors.ModelServerTimeout(self._timeout_description) from timeout
        except httpx.TransportError as failure:
            detail = str(failure) or type(failure).__name__
            raise errors.ModelServerUnreachable(self.server_url, detail) from failure

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON body of a successful answer; maps error statuses to web app errors."""
        status = response.status_code
        if status in (429, 503):
            raise errors.ModelUnavailable(f"The model server is busy: {_error_text(response)}")
        if status == 504:
            raise errors.ModelServerTimeout(self._timeout_description)
        if 400 <= status < 500:
            raise errors.ModelServerRejected(_error_text(response))
        if status >= 500:
            raise errors.ModelServerFailed(status, _error_text(response))
        try:
            body = response.json()
        except ValueError as invalid:
            raise errors.UnexpectedAnswer(
                f"HTTP {status} with a body that is not JSON"
            ) from invalid
        if not isinstance(body, dict):
            raise errors.UnexpectedAnswer(f"HTTP {status} with JSON that is not an object")
        return body


def parse_answer(parse: Callable[[Mapping[str, Any]], T], body: Mapping[str, Any]) -> T:
    """``parse(body)``; JSON of a shape ``parse`` does not expect is :class:`UnexpectedAnswer`."""
    try:
        return parse(body)
    except MALFORMED_ANSWER_ERRORS as odd:
        raise errors.UnexpectedAnswer(f"{type(odd).__name__}: {odd}") from odd


def _model_path(model: str, version: str) -> str:
    return f"/v1/models/{_quote(model)}/versions/{_quote(version)}"


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def _error_text(response: httpx.Response) -> str:
    """TF Serving's ``{"error": ...}`` message, or the start of a non-JSON body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"HTTP {response.status_code}"
