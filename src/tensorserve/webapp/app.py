"""The Flask app factory: one route table, one error renderer, strict security headers.

``create_app`` builds everything a request needs (client, history, service) and keeps it in
``app.extensions``; nothing lives at module level. The app is thread-safe and may run under
several gunicorn workers at once (each builds its own app).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from tensorserve.webapp import views
from tensorserve.webapp.client import ModelServerClient
from tensorserve.webapp.config import WebAppConfig
from tensorserve.webapp.errors import WebAppError
from tensorserve.webapp.history import HistoryStore
from tensorserve.webapp.service import PredictionService

ROUTES: tuple[tuple[str, str, Callable[..., Any], tuple[str, ...]], ...] = (
    ("/", "predict_page", views.predict_page, ("GET", "POST")),
    ("/history", "history_page", views.history_page, ("GET",)),
    ("/models", "models_page", views.models_page, ("GET",)),
    ("/images/<name>", "saved_image", views.saved_image, ("GET",)),
    ("/api/predict", "api_predict", views.api_predict, ("POST",)),
    ("/api/models", "api_models", views.api_models, ("GET",)),
    ("/healthz", "health", views.health, ("GET",)),
)
"""(rule, endpoint, view, methods) of every route."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(config: WebAppConfig, *, transport: httpx.BaseTransport | None = None) -> Flask:
    """Build the web app for ``config``; ``transport`` replaces the network in tests."""
    app = Flask(__name__)
    # Request bodies are read by upload_form, which enforces the upload limits itself.
    app.config.update(config.extra_flask_config)
    client = ModelServerClient(
        config.server_url,
        timeout_s=config.request_timeout_s,
        connect_timeout_s=config.connect_timeout_s,
        fallback_models=config.models,
        transport=transport,
    )
    history = HistoryStore(config.images_dir, config.history_limit)
    app.extensions[views.EXTENSION_KEY] = views.WebAppContext(
        config=config, service=PredictionService(client, history, config), history=history
    )
    for rule, endpoint, view, methods in ROUTES:
        app.add_url_rule(rule, endpoint, view, methods=list(methods))
    app.register_error_handler(WebAppError, _render_webapp_error)
    app.register_error_handler(HTTPException, _render_http_error)
    app.after_request(_add_security_headers)
    app.context_processor(lambda: {"server_url": config.server_url})
    return app


def _render_webapp_error(error: WebAppError) -> tuple[Response | str, int]:
    if request.path.startswith("/api/"):
        return jsonify(error.to_json()), error.status
    return render_template("error.html", error=error, active=""), error.status


def _render_http_error(error: HTTPException) -> tuple[Response | str, int] | HTTPException:
    status = error.code or 500
    hints = {
        404: "Check the address, or go back to the Predict page.",
        405: "This address does not accept that kind of request.",
        413: "Resize or compress the image, then try again.",
    }
    shown = WebAppError(error.description or error.name, hints.get(status, ""))
    shown.status, shown.title = status, error.name
    return _render_webapp_error(shown)


def _add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
