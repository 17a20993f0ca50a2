"""The web app's use cases, free of Flask: predict an upload, describe the served models.

A predict validates the upload before talking to the server (bad input is reported the
same whether the server is up or not), resolves "latest" to the newest AVAILABLE version so
the answer can say which version replied, builds the input from that version's signature,
and saves the upload with its result in the history. Thread-safe: it keeps no state of its
own beyond the thread-safe client and the on-disk history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tensorserve.webapp import errors
from tensorserve.webapp.client import ModelServerClient, parse_answer
from tensorserve.webapp.config import WebAppConfig
from tensorserve.webapp.history import HistoryStore
from tensorserve.webapp.metadata import ModelStatus, SignatureSpec, choose_predict_signature
from tensorserve.webapp.predictions import Prediction, top_predictions
from tensorserve.webapp.preprocessing import build_model_input, validate_image

MAX_RECORDED_FILENAME = 120
PREFERRED_MODEL = "digits"
"""The demo's Python servable: prepares any photo for the MNIST CNN, so it is the
default model whenever the server serves it."""


@dataclass(frozen=True)
class PredictionOutcome:
    """What a prediction answered, for the result page, the JSON API and the history."""

    model: str
    version: str
    predictions: list[Prediction]
    image: str
    round_trip_ms: float
    input_description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "predictions": [p.to_json() for p in self.predictions],
            "image": self.image,
            "round_trip_ms": round(self.round_trip_ms, 2),
            "input": self.input_description,
        }


@dataclass(frozen=True)
class VersionDetails:
    """One version for the Models page: its state and, when AVAILABLE, its signatures."""

    version: str
    state: str
    error_code: str
    error_message: str
    signatures: tuple[SignatureSpec, ...] = ()
    metadata_error: str = ""


@dataclass(frozen=True)
class ModelDetails:
    """One model for the Models page."""

    name: str
    versions: list[VersionDetails] = field(default_factory=list)
    error: str = ""


class PredictionService:
    """Runs predictions and reads model details through one :class:`ModelServerClient`."""

    def __init__(
        self, client: ModelServerClient, history: HistoryStore, config: WebAppConfig
    ) -> None:
        self._client = client
        self._history = history
        self._config = config

    def list_models(self) -> tuple[ModelStatus, ...]:
        """Every model the server reports, with version states."""
        return self._client.list_models()

    def predict(
        self, data: bytes, filename: str, model: str | None, version: str | None
    ) -> PredictionOutcome:
        """Predict ``data`` with ``model`` (default: the first with an available version)."""
        upload = validate_image(data, self._config.max_image_pixels)
        model = model or self._default_model()
        version = self._resolve_version(model, version or None)
        signature = choose_predict_signature(self._client.signatures(model, version))
        if signature is None:
            raise errors.UnsupportedSignature(model, "it has no predict signature")
        model_input = build_model_input(upload, model, signature, self._config.input_scale)
        result = self._client.predict(
            model, version, model_input.signature_name, [model_input.instance]
        )
        top = parse_answer(
            lambda answer: top_predictions(
                model, signature, answer["predictions"], self._config.top_k
            ),
            {"predictions": result.predictions},
        )
        record = {
            "model": model,
            "version": version,
            "signature": signature.name,
            "predictions": [p.to_json() for p in top],
            "round_trip_ms": round(result.round_trip_ms, 2),
            "input": model_input.description,
            "original_filename": filename[:MAX_RECORDED_FILENAME],
        }
        saved_name = self._history.save(upload.data, upload.extension, record)
        return PredictionOutcome(
            model=model,
            version=version,
            predictions=top,
            image=saved_name,
            round_trip_ms=result.round_trip_ms,
            input_description=model_input.description,
        )

    def model_details(self) -> list[ModelDetails]:
        """Each model, each version's state, and the signatures of AVAILABLE versions."""
        details = []
        for model in self._client.list_models():
            versions = []
            for status in model.versions:
                signatures: tuple[SignatureSpec, ...] = ()
                metadata_error = ""
                if status.is_available:
                    try:
                        signatures = self._client.signatures(model.name, status.version)
                    except errors.WebAppError as failure:
                        metadata_error = failure.message
                versions.append(
                    VersionDetails(
                        version=status.version,
                        state=status.state,
                        error_code=status.error_code,
                        error_message=status.error_message,
                        signatures=signatures,
                        metadata_error=metadata_error,
                    )
                )
            details.append(ModelDetails(name=model.name, versions=versions, error=model.error))
        return details

    def _default_model(self) -> str:
        """``digits`` (the demo's Python servable, which takes any image) when it is
        served, else the first model with an available version."""
        available = [m.name for m in self._client.list_models() if m.available_versions]
        if PREFERRED_MODEL in available:
            return PREFERRED_MODEL
        if available:
            return available[0]
        raise errors.ModelUnavailable("The model server reports no model ready to serve.")

    def _resolve_version(self, model: str, version: str | None) -> str:
        if version is not None and not (version.isascii() and version.isdigit()):
            raise errors.UnknownModel(model, version, detail="versions are numbers")
        status = self._client.model_status(model)
        if version is None:
            latest = status.latest_available
            if latest is None:
                states = ", ".join(f"{v.version}: {v.state}" for v in status.versions)
                raise errors.ModelUnavailable(
                    f"Model {model!r} has no AVAILABLE version ({states or 'no versions'})."
                )
            return latest
        entry = next((v for v in status.versions if v.version == version), None)
        if entry is None:
            raise errors.UnknownModel(model, version)
        if not entry.is_available:
            raise errors.ModelUnavailable(
                f"Version {version} of model {model!r} is {entry.state}, not AVAILABLE."
            )
        return version
