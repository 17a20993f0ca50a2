"""The ``/v2`` dispatcher the REST app mounts: Open Inference Protocol over HTTP.

Every answer is JSON, errors included (``{"error": "<message>"}``), because
``tritonclient.http`` cannot read anything else: an unknown path is 404, a
wrong method 405, a body over the cap 413, and other failures take their
status from the one canonical-code table (``rest/http_status.py``). Inference
answers with binary outputs are ``application/octet-stream`` with
``Inference-Header-Content-Length``. No Content-Type is required on requests;
``Content-Encoding: gzip`` and ``deflate`` bodies are inflated (capped).
``infer_stream`` answers with server-sent events (``rest_stream``).

Call from the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import orjson

from tensorserve.core.errors import InvalidArgument, ServingError, as_serving_error
from tensorserve.dataplane import DataPlane
from tensorserve.rest.app import CORS_HEADERS
from tensorserve.rest.asgi import (
    JSON_CONTENT_TYPE,
    Receive,
    Scope,
    Send,
    header_value,
    send_response,
)
from tensorserve.rest.http_status import http_status
from tensorserve.rest.options import RestOptions
from tensorserve.rest.request_body import PayloadTooLarge, read_body
from tensorserve.v2.binary_extension import HEADER
from tensorserve.v2.content_encoding import ENCODINGS, inflate_capped
from tensorserve.v2.rest_handlers import V2Response, V2RestHandlers
from tensorserve.v2.rest_routes import MethodNotAllowed, V2Api, V2Route, match_v2_route

_logger = logging.getLogger(__name__)

_OCTET_STREAM = (b"content-type", b"application/octet-stream")

Handler = Callable[[V2Route, bytes, Scope], Awaitable[V2Response]]


class V2RestApp:
    """An ASGI app for ``/v2`` paths only (the REST app routes them here)."""

    def __init__(self, dataplane: DataPlane, options: RestOptions) -> None:
        self._dataplane = dataplane
        self._options = options
        self._cors = list(CORS_HEADERS if options.enable_cors else ())
        handlers = V2RestHandlers(dataplane, options)
        self._handlers: Mapping[V2Api, Handler] = {
            V2Api.SERVER_METADATA: handlers.server_metadata,
            V2Api.SERVER_LIVE: handlers.server_live,
            V2Api.SERVER_READY: handlers.server_ready,
            V2Api.MODEL_METADATA: handlers.model_metadata,
            V2Api.MODEL_READY: handlers.model_ready,
            V2Api.INFER: handlers.infer,
            V2Api.INFER_STREAM: handlers.infer_stream,
            V2Api.REPOSITORY_INDEX: handlers.repository_index,
            V2Api.REPOSITORY_LOAD: handlers.repository_load,
            V2Api.REPOSITORY_UNLOAD: handlers.repository_unload,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").partition("?")[0] if raw_path else scope["path"]
        method = scope["method"]
        if method == "OPTIONS" and self._cors:
            await self._preflight(scope, send)
            return
        headers = [JSON_CONTENT_TYPE, *self._cors]
        try:
            route = match_v2_route(method, path)
            body = await self._body(scope, receive) if method == "POST" else b""
            response = await self._handlers[route.api](route, body, scope)
        except MethodNotAllowed as error:
            headers.append((b"allow", error.allowed.encode("ascii")))
            status, payload = 405, _error_body(error.message)
        except PayloadTooLarge as error:
            status, payload = 413, _error_body(error.message)
        except ServingError as error:
            status, payload = http_status(error.code), _error_body(error.message)
        except Exception as exc:  # a bug or an unexpected model failure: still answer JSON
            _logger.exception("V2 request %s %s failed", method, path)
            wrapped = as_serving_error(exc)
            status, payload = http_status(wrapped.code), _error_body(wrapped.message)
        else:
            if response.events is not None:
                await response.events.send(send, receive, self._cors)
                return
            status, payload = response.status, response.body
            if response.header_length is not None:
                headers[0] = _OCTET_STREAM
                headers.append((HEADER, str(response.header_length).encode()))
        await send_response(send, status, payload, headers)

    async def _preflight(self, scope: Scope, send: Send) -> None:
        """CORS preflight (``--rest_api_enable_cors_support``), as for ``/v1``: 200 when
        ``Origin`` names an http(s) origin, else 400; no body."""
        origin = header_value(scope, b"origin") or b""
        ok = b"http://" in origin or b"https://" in origin
        await send_response(send, 200 if ok else 400, b"", self._cors)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        body = await read_body(scope, receive, self._options.max_body_bytes)
        encoding = (header_value(scope, b"content-encoding") or b"").strip().lower()
        if not encoding or encoding == b"identity":
            return body
        if encoding not in ENCODINGS:
            raise InvalidArgument(
                f"unsupported Content-Encoding {encoding.decode('latin-1')!r}: "
                "use gzip, deflate or none"
            )
        limit = self._options.max_decompressed_bytes
        return await self._dataplane.convert(len(body), inflate_capped, body, encoding, limit)


def _error_body(message: str) -> bytes:
    try:
        return orjson.dumps({"error": message})
    except orjson.JSONEncodeError:  # lone surrogates from undecodable input
        clean = message.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
        return orjson.dumps({"error": clean})
