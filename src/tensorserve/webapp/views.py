"""Request handlers: read the request, call the service, render HTML or JSON.

Each view is a few lines; failures are :class:`WebAppError` and are rendered by the app's
one error handler, except on the Predict page, which shows the error above the form so the
person can try again at once. Thread-safe: views share only the immutable context.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Response, current_app, jsonify, render_template, request, send_file
from werkzeug.exceptions import NotFound

from tensorserve.webapp import errors
from tensorserve.webapp.config import WebAppConfig
from tensorserve.webapp.history import HistoryStore
from tensorserve.webapp.metadata import ModelStatus
from tensorserve.webapp.predictions import bar_scale
from tensorserve.webapp.service import PredictionOutcome, PredictionService
from tensorserve.webapp.upload_form import FormLimits, UploadForm, read_upload_form

EXTENSION_KEY = "tensorserve_webapp"
SERVER_DOWN_ERRORS = (errors.ModelServerUnreachable, errors.ModelServerTimeout)
LARGEST_PAGE_NUMBER = 10**9
"""Page numbers are clamped to the last page; this bounds the text turned into an int."""
IMAGE_MIMETYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
}


@dataclass(frozen=True)
class WebAppContext:
    """What every view needs, built once by ``create_app``."""

    config: WebAppConfig
    service: PredictionService
    history: HistoryStore


def predict_page() -> tuple[str, int]:
    """``GET``: the form. ``POST``: predict the upload and show the result (or the error)."""
    context = _context()
    result: PredictionOutcome | None = None
    error: errors.WebAppError | None = None
    form = UploadForm(image=None, filename="", fields=request.args.to_dict())
    total_ms = 0.0
    if request.method == "POST":
        started = time.monotonic()
        try:
            form = _read_form(context)
            result = _predict(context, form)
        except errors.WebAppError as failure:
            error = failure
        total_ms = (time.monotonic() - started) * 1000.0
    models: tuple[ModelStatus, ...] = ()
    try:
        # A server that could not be reached or timed out just now would only make the
        # person wait a second time for the same error.
        if not isinstance(error, SERVER_DOWN_ERRORS):
            models = context.service.list_models()
    except errors.WebAppError as failure:
        error = error or failure
    choices = [(m.name, m.available_versions) for m in models if m.available_versions]
    selected_model = result.model if result else form.field("model")
    page = render_template(
        "predict.html",
        active="predict",
        choices=choices,
        selected_model=selected_model or (choices[0][0] if choices else ""),
        selected_version=form.field("version"),
        result=result,
        scale=bar_scale(result.predictions) if result else 1.0,
        total_ms=total_ms,
        error=error,
        max_upload_mb=context.config.max_upload_bytes / 1024 / 1024,
    )
    return page, error.status if error else 200


def api_predict() -> tuple[Response, int]:
    """``POST /api/predict``: multipart ``image`` (+ ``model``, ``version``) -> top classes."""
    context = _context()
    outcome = _predict(context, _read_form(context))
    return jsonify(outcome.to_json()), 200


def api_models() -> tuple[Response, int]:
    """``GET /api/models``: every model with the state of each version."""
    models = _context().service.list_models()
    body = {
        "models": [
            {
                "name": model.name,
                "error": model.error,
                "versions": [
                    {
                        "version": v.version,
                        "state": v.state,
                        "error_code": v.error_code,
                        "error_message": v.error_message,
                    }
                    for v in model.versions
                ],
            }
            for model in models
        ]
    }
    return jsonify(body), 200


def history_page() -> str:
    """``GET /history?page=N``: saved uploads with their predictions, newest first."""
    context = _context()
    page_number = _page_number(request.args.get("page", "1"))
    page = context.history.page(page_number, context.config.history_page_size)
    return render_template("history.html", active="history", page=page)


def models_page() -> str:
    """``GET /models``: every model and version with its state, error and signatures."""
    details = _context().service.model_details()
    return render_template("models.html", active="models", models=details)


def saved_image(name: str) -> Response:
    """A saved upload, by the generated name only."""
    path = _context().history.image_path(name)
    if path is None:
        raise NotFound("No saved image has that name.")
    return send_file(path, mimetype=IMAGE_MIMETYPES[path.suffix[1:]], max_age=3600)


def health() -> tuple[Response, int]:
    """Liveness of the web app itself (not of the model server)."""
    return jsonify({"status": "ok"}), 200


def _read_form(context: WebAppContext) -> UploadForm:
    config = context.config
    limits = FormLimits(
        max_body_bytes=config.max_upload_bytes,
        max_parts=config.max_form_parts,
        max_field_bytes=config.max_form_field_bytes,
    )
    return read_upload_form(request.environ, limits)


def _predict(context: WebAppContext, form: UploadForm) -> PredictionOutcome:
    if form.image is None:
        raise errors.EmptyUpload()
    return context.service.predict(
        form.image, form.filename, form.field("model") or None, form.field("version") or None
    )


def _page_number(text: str) -> int:
    """A 1-based page number from the query; anything but ASCII digits is page 1.

    (``str.isdigit`` holds for ``"²"``, which ``int`` refuses.)
    """
    if not (text.isascii() and text.isdigit()):
        return 1
    return int(text) if len(text) < 10 else LARGEST_PAGE_NUMBER


def _context() -> WebAppContext:
    context: WebAppContext = current_app.extensions[EXTENSION_KEY]
    return context
