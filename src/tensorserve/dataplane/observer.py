"""What the data plane reports about each request, for metrics.

The data plane calls a ``RequestObserver``; the monitoring layer implements it
with Prometheus. ``NullObserver`` is the default so the data plane never
depends on a metrics library.
"""

from __future__ import annotations

from typing import Protocol

from tensorserve.core.errors import Code


class RequestObserver(Protocol):
    """Thread-safe sink for per-request facts."""

    def inflight(self, model: str, delta: int) -> None: ...

    def request_finished(
        self, model: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None: ...

    def runtime(self, model: str, api: str, seconds: float) -> None: ...

    def examples(self, model: str, count: int) -> None:
        """``tf.Example`` protos in one classify, regress or multi-inference request."""
        ...


class NullObserver:
    def inflight(self, model: str, delta: int) -> None:
        pass

    def request_finished(
        self, model: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None:
        pass

    def runtime(self, model: str, api: str, seconds: float) -> None:
        pass

    def examples(self, model: str, count: int) -> None:
        pass
