"""Settings of the REST front end, parsed from flags by the composition root."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any

from tensorserve.rest.asgi import ASGIApp

Readiness = Callable[[], tuple[bool, Mapping[str, Any]]]
"""Returns (ready, details); details (e.g. which models lack an AVAILABLE version) are shown."""


@dataclasses.dataclass(frozen=True, slots=True)
class RestOptions:
    """How the REST app behaves. Immutable; shared by every request."""

    timeout_s: float | None = 30.0
    """``--rest_api_timeout_in_ms`` in seconds, passed to the model run; None = no limit."""

    enable_cors: bool = False
    """``--rest_api_enable_cors_support``: CORS headers on every /v1 response."""

    max_body_bytes: int = 256 * 1024 * 1024
    """Bodies larger than this (as sent) are refused with HTTP 413."""

    max_decompressed_bytes: int = 100 * 1024 * 1024
    """A gzip body that inflates past this is treated as empty, as TensorFlow Serving does."""

    readiness: Readiness | None = None
    """Answers ``GET /readyz``; None = ready when every known model has an AVAILABLE version."""

    extra_routes: Mapping[str, ASGIApp] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )
    """Exact paths served by other ASGI apps (any method), e.g. the Prometheus endpoint."""

    @staticmethod
    def timeout_from_ms(timeout_in_ms: int) -> float | None:
        """``--rest_api_timeout_in_ms`` as ``timeout_s`` (<= 0 means no timeout)."""
        return timeout_in_ms / 1000.0 if timeout_in_ms > 0 else None
