"""The REST front end as a raw ASGI app: TensorFlow Serving's ``/v1`` API plus our own routes.

Routes, in the order they are tried:

=================================  =====================================================
exact paths in ``extra_routes``    delegated whole (any method), e.g. Prometheus metrics
``GET /healthz``                   liveness: ``{"status": "ok"}``
``GET /readyz``                    200 when ready, else 503, with per-model details
``GET /tensorserve/v1/models``     every model with its version statuses
``(?i)/v1/.*``                     TensorFlow Serving's API (see ``routing.py``)
``/v2`` and ``/v2/...``            the Open Inference Protocol (``tensorserve.v2.rest_app``)
anything else                      plain-text 404, as TensorFlow Serving's libevent page
=================================  =====================================================

Every ``/v1`` answer is JSON (errors ``{"error": "<message>"}`` with the
status from ``http_status.py``), except OPTIONS preflights and the
empty-bodied 400s of ``routing.UndecodablePath``. No routing framework: at
thousands of requests a second its overhead shows.

Call from the event loop; one app serves any number of concurrent requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from tensorserve.core.errors import Code, ServingError, as_serving_error
from tensorserve.dataplane import DataPlane
from tensorserve.rest.asgi import (
    JSON_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    ASGIApp,
    Receive,
    Scope,
    Send,
    header_value,
    send_response,
)
from tensorserve.rest.handlers import RestHandlers
from tensorserve.rest.http_status import error_http_status
from tensorserve.rest.options import RestOptions
from tensorserve.rest.request_body import gunzip_capped, is_gzip_encoded, read_body
from tensorserve.rest.routing import Api, Route, UndecodablePath, is_v1_path, match_route
from tensorserve.rest.status_json import render_all_models
from tensorserve.v2.rest_routes import is_v2_path

_logger = logging.getLogger(__name__)

CORS_HEADERS = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, GET"),
    (b"access-control-allow-headers", b"Content-Type"),
)
_NOT_FOUND = b"Not Found\n"

ApiHandler = Callable[[Route, bytes], Awaitable[bytes]]
_COUNTED_BY_HANDLER = frozenset({Api.PREDICT, Api.CLASSIFY, Api.REGRESS})


def create_app(dataplane: DataPlane, options: RestOptions) -> ASGIApp:
    """The REST ASGI app serving ``dataplane`` as ``options`` say."""
    return RestApp(dataplane, options)


class RestApp:
    """See the module docstring. Call from the event loop."""

    def __init__(self, dataplane: DataPlane, options: RestOptions) -> None:
        self._dataplane = dataplane
        self._options = options
        handlers = RestHandlers(dataplane, options)
        self._apis: Mapping[Api, ApiHandler] = {
            Api.PREDICT: handlers.predict,
            Api.CLASSIFY: handlers.classify,
            Api.REGRESS: handlers.regress,
            Api.STATUS: handlers.status,
            Api.METADATA: handlers.metadata,
        }
        self._exact_routes: Mapping[str, ASGIApp] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/tensorserve/v1/models": self._list_models,
            **options.extra_routes,
        }
        # Imported here: the V2 codec reuses this package's helpers, so importing it at
        # the top would make ``tensorserve.rest`` and ``tensorserve.v2`` import each other.
        from tensorserve.v2.rest_app import V2RestApp

        self._v2: ASGIApp = V2RestApp(dataplane, options)
        cors = CORS_HEADERS if options.enable_cors else ()
        self._cors_headers = list(cors)
        self._json_headers = [JSON_CONTENT_TYPE, *cors]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        exact = self._exact_routes.get(scope["path"])
        if exact is not None:
            await exact(scope, receive, send)
            return
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").partition("?")[0] if raw_path else scope["path"]
        if is_v2_path(path):
            await self._v2(scope, receive, send)
        elif not is_v1_path(path):
            await send_response(send, 404, _NOT_FOUND, [TEXT_CONTENT_TYPE])
        elif scope["method"] == "OPTIONS":
            await self._preflight(scope, send)
        else:
            await self._serve_v1(scope, receive, send, path)

    async def _serve_v1(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        start = time.perf_counter()
        route: Route | None = None
        counted = False  # by the handler or the data plane
        try:
            route = match_route(scope["method"], path)
            body = await self._request_body(scope, receive) if scope["method"] == "POST" else b""
            counted = route.api in _COUNTED_BY_HANDLER
            status, payload, code = 200, await self._apis[route.api](route, body), Code.OK
        except UndecodablePath as error:
            # TensorFlow Serving leaves these bodies empty; a JSON error helps clients more.
            status, payload, code = 400, _error_body(error.message), error.code
        except ServingError as error:
            status, payload, code = error_http_status(error), _error_body(error.message), error.code
        except Exception as exc:  # a bug or an unexpected model failure: still answer JSON
            _logger.exception("REST request %s %s failed", scope["method"], path)
            wrapped = as_serving_error(exc)
            status, code = error_http_status(wrapped), wrapped.code
            payload = _error_body(wrapped.message)
        if route is not None and route.model_name and not counted:
            self._dataplane.observer.request_finished(
                route.model_name, route.api.value, "REST", code, time.perf_counter() - start
            )
        await send_response(send, status, payload, self._json_headers)

    async def _request_body(self, scope: Scope, receive: Receive) -> bytes:
        body = await read_body(scope, receive, self._options.max_body_bytes)
        if not is_gzip_encoded(scope):
            return body
        limit = self._options.max_decompressed_bytes
        return await self._dataplane.convert(len(body), gunzip_capped, body, limit)

    async def _preflight(self, scope: Scope, send: Send) -> None:
        """CORS preflight: 200 when ``Origin`` names an http(s) origin, else 400; no body."""
        origin = header_value(scope, b"origin") or b""
        ok = b"http://" in origin or b"https://" in origin
        await send_response(send, 200 if ok else 400, b"", self._cors_headers)

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_response(send, 200, orjson.dumps({"status": "ok"}), [JSON_CONTENT_TYPE])

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        ready, details = (self._options.readiness or self._models_available)()
        body = orjson.dumps({"status": "ready" if ready else "not ready", "models": details})
        await send_response(send, 200 if ready else 503, body, [JSON_CONTENT_TYPE])

    def _models_available(self) -> tuple[bool, dict[str, Any]]:
        available = {
            name: self._dataplane.model_ready(name) for name in self._dataplane.all_model_status()
        }
        return all(available.values()), available

    async def _list_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = render_all_models(self._dataplane.all_model_status())
        await send_response(send, 200, body, [JSON_CONTENT_TYPE])


def _error_body(message: str) -> bytes:
    try:
        return orjson.dumps({"error": message})
    except orjson.JSONEncodeError:  # lone surrogates from undecodable input
        clean = message.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
        return orjson.dumps({"error": clean})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge lifespan events; the app has nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
