"""Carrying out the loads and unloads the manager decided on.

One :class:`VersionTransitions` ties the three things a transition touches
together, in the order TF Serving keeps: the resource reservation, the
serving map, and the states published to the :class:`ServableStateMonitor`
(LOADING once resources are approved, AVAILABLE after the version is in the
map, UNLOADING before it leaves it, END when gone or failed).
"""

from __future__ import annotations

import logging
from typing import Any

from tensorserve.core.errors import Internal, ServingError, as_serving_error
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.core.loader_harness import HarnessState, LoaderHarness, RetryOptions
from tensorserve.core.resource_tracker import ResourceTracker
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.core.serving_map import LoadedVersion, ServingMap
from tensorserve.core.source import ServableData

_log = logging.getLogger(__name__)


class _ErrorLoader(Loader):
    """Stands in for the loader a failed ServableData could not provide."""

    def __init__(self, error: ServingError) -> None:
        self._error = error

    def estimate_resources(self) -> ResourceEstimate:
        raise self._error

    def load(self) -> None:
        raise self._error

    def unload(self) -> None:
        pass

    def servable(self) -> Any:
        raise self._error


class VersionTransitions:
    """Starts tracking, loads and unloads versions. Thread-safe.

    Each call concerns one harness and may run in the manage-state thread or
    a pool thread; ``load`` and ``unload`` block for the loader's work (and
    ``unload`` for open handles). Failures end the version in END with the
    error and are never raised.
    """

    def __init__(
        self,
        tracker: ResourceTracker,
        serving_map: ServingMap,
        monitor: ServableStateMonitor,
        retry: RetryOptions,
    ) -> None:
        self._tracker = tracker
        self._serving_map = serving_map
        self._monitor = monitor
        self._retry = retry

    def track(self, data: ServableData[Loader]) -> LoaderHarness:
        """A harness for a newly aspired version (START); in ERROR (END) if ``data`` failed."""
        self.publish(data.id, ManagerState.START)
        if data.error is None and data.data is not None:
            return LoaderHarness(data.id, data.data, self._retry)
        error = data.error or Internal(f"No loader for servable {data.id}")
        harness = LoaderHarness(data.id, _ErrorLoader(error), self._retry)
        harness.fail(error)
        self.publish(data.id, ManagerState.END, error)
        return harness

    def load(self, harness: LoaderHarness) -> None:
        """LOAD_REQUESTED -> READY and into the serving map, or ERROR."""
        try:
            estimate = _estimate(harness)
            self._tracker.reserve(harness.id, estimate)
        except ServingError as error:
            harness.fail(error)
            self.publish(harness.id, ManagerState.END, error)
            return
        try:
            harness.load_approved()
            self.publish(harness.id, ManagerState.LOADING)
            harness.load()
            version = LoadedVersion(harness.id, harness.loader.servable())
        except Exception as exc:
            self._fail_load(harness, as_serving_error(exc))
            self._tracker.finish_load(harness.id, None)
            self.publish(harness.id, ManagerState.END, harness.error)
            return
        self._tracker.finish_load(harness.id, _estimate_after_load(harness, estimate))
        self._serving_map.add(version)
        self.publish(harness.id, ManagerState.AVAILABLE)

    def _fail_load(self, harness: LoaderHarness, error: ServingError) -> None:
        if harness.state is HarnessState.ERROR:
            return
        if harness.state is HarnessState.READY:  # loaded, but servable() failed
            try:
                harness.loader.unload()
            except Exception:
                _log.exception("Unloading %s after a failed load failed", harness.id)
        harness.fail(error)

    def unload(self, harness: LoaderHarness) -> None:
        """UNLOAD_REQUESTED -> out of the map -> wait for handles -> DISABLED (or ERROR).

        The caller has counted the unload with ``ResourceTracker.start_unload``.
        """
        error: ServingError | None = None
        try:
            harness.start_quiescing()
            self.publish(harness.id, ManagerState.UNLOADING)
            version = self._serving_map.remove(harness.id)
            if version is not None:
                version.quiesce()
            harness.done_quiescing()
            harness.unload()
        except ServingError as exc:
            error = exc
        finally:
            self._tracker.finish_unload(harness.id)
        self.publish(harness.id, ManagerState.END, error)

    def forget_never_loaded(self, servable_id: ServableId) -> None:
        """A version un-aspired before it loaded is gone: END without error."""
        self.publish(servable_id, ManagerState.END)

    def publish(
        self, servable_id: ServableId, state: ManagerState, error: ServingError | None = None
    ) -> None:
        """Publish a state; a failing listener is logged, never raised."""
        try:
            self._monitor.publish(ServableState(servable_id, state, error))
        except Exception:
            _log.exception("A servable state listener failed on %s", servable_id)


def _estimate(harness: LoaderHarness) -> ResourceEstimate:
    try:
        return harness.loader.estimate_resources()
    except Exception as exc:
        error = as_serving_error(exc)
        raise ServingError(
            "Error while attempting to reserve resources to load servable "
            f"{harness.id}: {error.message}",
            error.code,
        ) from exc


def _estimate_after_load(harness: LoaderHarness, before: ResourceEstimate) -> ResourceEstimate:
    """TF Serving re-estimates once loaded, which drops the transient part."""
    try:
        return harness.loader.estimate_resources()
    except Exception:
        _log.exception("Estimating resources of loaded %s failed", harness.id)
        return before
