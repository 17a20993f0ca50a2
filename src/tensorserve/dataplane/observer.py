"""What the data plane reports about each request, for metrics.

The data plane calls a ``RequestObserver``; the monitoring layer implements it
with Prometheus. ``NullObserver`` is the default so the data plane never
depends on a metrics library.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from tensorserve.core.errors import Code, ServingError, as_serving_error
from tensorserve.core.released_frames import drop_tracebacks


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


class Uncounted:
    """Marks an exception that ends no request: the request is answered again
    (a transport worker decoding anew after a swap) or elsewhere (on the event loop),
    and counted there."""


def outcome_code(error: BaseException | None) -> Code | None:
    """The code a request that ended with ``error`` (None: answered) is counted
    under; None for an :class:`Uncounted` one. A cancelled request, or a stream its
    client closed early, is CANCELLED."""
    if error is None:
        return Code.OK
    if isinstance(error, Uncounted):
        return None
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return Code.CANCELLED
    if isinstance(error, Exception):
        return as_serving_error(error).code
    return Code.UNKNOWN


class RequestOutcome:
    """Around one request: reports it to ``observer`` when the block ends, with its
    code (:func:`outcome_code`) and the seconds since ``started``. One context manager,
    so every way a request can end (answer, error, cancel, a stream closed early) is
    counted once, the same way, on every request path.

    It also detaches the traceback of a ``ServingError`` the request ended with: the
    transport answers it without logging it, and its traceback runs through the
    request's finished coroutines (holding its decoded tensors) into cycles with the
    futures that carried the error, which only a garbage collection would free."""

    __slots__ = ("_api", "_model", "_observer", "_protocol", "_started")

    def __init__(
        self,
        observer: RequestObserver,
        model: str,
        api: str,
        protocol: str,
        started: float | None = None,
    ) -> None:
        self._observer = observer
        self._model = model
        self._api = api
        self._protocol = protocol
        self._started = time.perf_counter() if started is None else started

    def __enter__(self) -> RequestOutcome:
        return self

    def __exit__(self, _kind: Any, error: BaseException | None, _tb: Any) -> None:
        if isinstance(error, ServingError):
            drop_tracebacks(error)
        code = outcome_code(error)
        if code is not None:
            self._observer.request_finished(
                self._model,
                self._api,
                self._protocol,
                code,
                time.perf_counter() - self._started,
            )
