"""The loader harness: one Loader wrapped in an explicit lifecycle state machine.

The manager keeps one harness per servable version it tracks. The harness
owns the version's internal state (finer than the :class:`ManagerState`
clients see), enforces the legal transitions, and runs ``load`` with retries.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading

from tensorserve.core.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    ServingError,
    as_serving_error,
)
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId

_log = logging.getLogger(__name__)


class HarnessState(enum.Enum):
    """Internal lifecycle state of one version (TF Serving's ``LoaderHarness::State``).

    Legal transitions::

        NEW -> LOAD_REQUESTED -> LOAD_APPROVED -> LOADING -> READY
        READY -> UNLOAD_REQUESTED -> QUIESCING -> QUIESCED -> UNLOADING -> DISABLED
        any state except DISABLED and ERROR -> ERROR

    DISABLED (unloaded) and ERROR (failed, keeping the error) are final.
    """

    NEW = "new"
    LOAD_REQUESTED = "load-requested"
    LOAD_APPROVED = "load-approved"
    LOADING = "loading"
    READY = "ready"
    UNLOAD_REQUESTED = "unload-requested"
    QUIESCING = "quiescing"
    QUIESCED = "quiesced"
    UNLOADING = "unloading"
    DISABLED = "disabled"
    ERROR = "error"

    @property
    def is_final(self) -> bool:
        return self in (HarnessState.DISABLED, HarnessState.ERROR)


_NEXT: dict[HarnessState, HarnessState] = {
    HarnessState.NEW: HarnessState.LOAD_REQUESTED,
    HarnessState.LOAD_REQUESTED: HarnessState.LOAD_APPROVED,
    HarnessState.LOAD_APPROVED: HarnessState.LOADING,
    HarnessState.LOADING: HarnessState.READY,
    HarnessState.READY: HarnessState.UNLOAD_REQUESTED,
    HarnessState.UNLOAD_REQUESTED: HarnessState.QUIESCING,
    HarnessState.QUIESCING: HarnessState.QUIESCED,
    HarnessState.QUIESCED: HarnessState.UNLOADING,
    HarnessState.UNLOADING: HarnessState.DISABLED,
}


class IllegalTransition(FailedPrecondition):
    """A harness was asked to move to a state its current state cannot reach."""

    def __init__(self, servable_id: ServableId, current: HarnessState, target: HarnessState):
        super().__init__(
            f"Illegal request to transition from state {current.name} to {target.name} "
            f"for servable {servable_id}"
        )
        self.servable_id = servable_id
        self.current = current
        self.target = target


@dataclasses.dataclass(frozen=True, slots=True)
class RetryOptions:
    """How ``LoaderHarness.load`` retries a failing ``Loader.load``.

    ``max_num_load_retries`` retries follow the first attempt (5 -> 6 attempts),
    ``load_retry_interval_s`` seconds apart (TF Serving's default is 60 s).
    ``load_timeout_s`` (None: no limit, as in TF Serving) bounds each attempt:
    an attempt still running then is abandoned and the load fails without
    retry, because the Loader is still busy and may not be called again.
    """

    max_num_load_retries: int = 5
    load_retry_interval_s: float = 60.0
    load_timeout_s: float | None = None


class LoaderHarness:
    """Drives one Loader through :class:`HarnessState`.

    Thread-safe: state reads and transitions take an internal lock, so the
    manage thread may read ``state`` while a pool thread runs ``load``. The
    manager calls ``load`` and ``unload`` from one thread at a time, so the
    loader itself is never used concurrently.
    """

    def __init__(
        self, servable_id: ServableId, loader: Loader, retry: RetryOptions | None = None
    ) -> None:
        self.id = servable_id
        self.loader = loader
        self._retry = retry or RetryOptions()
        self._lock = threading.Lock()
        self._state = HarnessState.NEW
        self._error: ServingError | None = None
        self._cancel_retries = threading.Event()

    def __repr__(self) -> str:
        return f"LoaderHarness({self.id}, {self.state.name})"

    @property
    def state(self) -> HarnessState:
        with self._lock:
            return self._state

    @property
    def error(self) -> ServingError | None:
        """The error that put the harness in ERROR, else None."""
        with self._lock:
            return self._error

    @property
    def load_retries_cancelled(self) -> bool:
        return self._cancel_retries.is_set()

    def _transition(self, expected: HarnessState, target: HarnessState) -> None:
        with self._lock:
            if self._state is not expected or _NEXT.get(expected) is not target:
                raise IllegalTransition(self.id, self._state, target)
            self._state = target

    def load_requested(self) -> None:
        """NEW -> LOAD_REQUESTED: the manager decided to load this version."""
        self._transition(HarnessState.NEW, HarnessState.LOAD_REQUESTED)

    def load_approved(self) -> None:
        """LOAD_REQUESTED -> LOAD_APPROVED: resources were reserved."""
        self._transition(HarnessState.LOAD_REQUESTED, HarnessState.LOAD_APPROVED)

    def load(self) -> None:
        """LOAD_APPROVED -> LOADING -> READY, retrying failed attempts.

        Blocks for the loads and the retry intervals. Between attempts it
        stops early when ``cancel_load_retries`` is called. After the last
        failure (or an attempt that outlived ``load_timeout_s``) the harness
        is in ERROR and the error is raised.
        """
        self._transition(HarnessState.LOAD_APPROVED, HarnessState.LOADING)
        attempts = self._retry.max_num_load_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._load_once()
            except Exception as exc:
                error = as_serving_error(exc)
                _log.warning("Loading %s failed (attempt %d): %s", self.id, attempt, error)
                timed_out = isinstance(exc, LoadTimedOut)
                if timed_out or attempt == attempts or self._wait_before_retry():
                    self.fail(error)
                    if error is exc:
                        raise
                    raise error from exc
                continue
            self._transition(HarnessState.LOADING, HarnessState.READY)
            return

    def _load_once(self) -> None:
        """One ``Loader.load``; with a timeout, on a watched thread of its own."""
        timeout = self._retry.load_timeout_s
        if timeout is None:
            self.loader.load()
            return
        attempt = _TimedLoad(self.id, self.loader)
        attempt.run(timeout)

    def _wait_before_retry(self) -> bool:
        """Wait the retry interval; True when retries were cancelled meanwhile."""
        if self._cancel_retries.is_set():
            return True
        return self._cancel_retries.wait(self._retry.load_retry_interval_s)

    def cancel_load_retries(self) -> None:
        """Stop retrying a failing load (the version is no longer aspired). Thread-safe."""
        self._cancel_retries.set()

    def unload_requested(self) -> None:
        """READY -> UNLOAD_REQUESTED: the manager decided to unload this version."""
        self._transition(HarnessState.READY, HarnessState.UNLOAD_REQUESTED)

    def start_quiescing(self) -> None:
        """UNLOAD_REQUESTED -> QUIESCING: leaving the serving map; handles may remain."""
        self._transition(HarnessState.UNLOAD_REQUESTED, HarnessState.QUIESCING)

    def done_quiescing(self) -> None:
        """QUIESCING -> QUIESCED: every handle is closed."""
        self._transition(HarnessState.QUIESCING, HarnessState.QUIESCED)

    def unload(self) -> None:
        """QUIESCED -> UNLOADING -> DISABLED; if ``Loader.unload`` raises -> ERROR."""
        self._transition(HarnessState.QUIESCED, HarnessState.UNLOADING)
        try:
            self.loader.unload()
        except Exception as exc:
            error = as_serving_error(exc)
            self.fail(error)
            if error is exc:
                raise
            raise error from exc
        self._transition(HarnessState.UNLOADING, HarnessState.DISABLED)

    def fail(self, error: ServingError) -> None:
        """Any non-final state -> ERROR, keeping ``error``."""
        with self._lock:
            if self._state.is_final:
                raise IllegalTransition(self.id, self._state, HarnessState.ERROR)
            self._state = HarnessState.ERROR
            self._error = error


class LoadTimedOut(DeadlineExceeded):
    """A load attempt outlived ``RetryOptions.load_timeout_s`` and was abandoned."""

    def __init__(self, servable_id: ServableId, timeout_s: float) -> None:
        super().__init__(
            f"Loading servable {servable_id} did not finish within {timeout_s:g} seconds "
            "(--load_timeout_seconds); the attempt was abandoned"
        )
        self.servable_id = servable_id
        self.timeout_s = timeout_s


class _TimedLoad:
    """One ``Loader.load`` on a daemon thread that the caller waits for at most a while.

    Python cannot stop a thread, so a load that outlives the wait is abandoned:
    it runs on, and if it ever finishes, its thread unloads what it loaded, so
    a late success does not keep a model in memory that nothing serves.
    """

    def __init__(self, servable_id: ServableId, loader: Loader) -> None:
        self._id = servable_id
        self._loader = loader
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._abandoned = False

    def run(self, timeout_s: float) -> None:
        """Load, waiting ``timeout_s`` seconds; raise the load's error or LoadTimedOut."""
        thread = threading.Thread(target=self._load, name=f"tensorserve-load {self._id}")
        thread.daemon = True  # an abandoned load must not keep the process alive
        thread.start()
        finished = self._done.wait(timeout_s)
        with self._lock:
            if not finished and not self._done.is_set():
                self._abandoned = True
                raise LoadTimedOut(self._id, timeout_s)
        if self._error is not None:
            raise self._error

    def _load(self) -> None:
        try:
            self._loader.load()
        except BaseException as exc:
            self._error = exc
        with self._lock:
            self._done.set()
            abandoned = self._abandoned
        if not abandoned:
            return
        if self._error is not None:
            _log.warning("Abandoned load of %s ended with: %s", self._id, self._error)
            return
        _log.warning("Abandoned load of %s finished late; unloading it", self._id)
        try:
            self._loader.unload()
        except Exception:
            _log.exception("Unloading the abandoned load of %s failed", self._id)
