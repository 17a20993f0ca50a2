"""Tests of the monitoring ASGI app, driven in process without a server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tensorserve.core.errors import Code
from tensorserve.monitoring import Metrics, prometheus_asgi_app


def call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def http_scope(method: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": "/monitoring/prometheus/metrics"}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_any_method_gets_the_page_as_text_plain(method: str) -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.observer().request_finished("half", "predict", "REST", Code.OK, 0.001)
    start, body = call(prometheus_asgi_app(metrics), http_scope(method))
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"text/plain"
    text = body["body"].decode()
    assert int(headers[b"content-length"]) == len(body["body"])
    assert "# TYPE :tensorflow:serving:request_count counter\n" in text
    assert ':tensorflow:serving:request_count{model_name="half",status="OK"} 1\n' in text


def test_head_gets_headers_only() -> None:
    start, body = call(prometheus_asgi_app(Metrics(CollectorRegistry())), http_scope("HEAD"))
    assert start["status"] == 200
    assert body["body"] == b""
