"""The Prometheus page as a bare ASGI app, for the REST server to mount.

TensorFlow Serving answers its monitoring path whatever the method; so does
this app (HEAD gets the headers only). No web framework is imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tensorserve.monitoring.exposition import CONTENT_TYPE
from tensorserve.monitoring.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def prometheus_asgi_app(metrics: Metrics) -> ASGIApp:
    """An ASGI app that renders ``metrics`` on every HTTP request. Call from the loop;
    rendering costs about a millisecond per few hundred series."""

    async def render() -> str:
        return metrics.render()

    return metrics_page_app(render)


def metrics_page_app(render: Callable[[], Awaitable[str]]) -> ASGIApp:
    """An ASGI app that answers every HTTP request with ``await render()`` (a transport
    worker's page is the model process's, fetched)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Mounted under the REST app's exact routes, it only ever sees HTTP scopes.
        if scope["type"] != "http":
            return
        body = (await render()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body}
        )

    return app
