"""Load latency and attempts, with TensorFlow's ``load_*`` metric labels (the model path).

A :class:`LoadRecorder` listens to the servable state monitor: LOADING starts a
version's clock, AVAILABLE or END stops it and records one attempt, a success
or a failure. The loader factory tells it each version's path, the label
TensorFlow Serving uses.
"""

from __future__ import annotations

import threading
import time

from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.monitoring.metrics import Metrics


class LoadRecorder:
    """A ``ServableStateMonitor`` listener feeding ``Metrics.record_load``. Thread-safe."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._paths: dict[ServableId, str] = {}
        self._started: dict[ServableId, float] = {}

    def note_path(self, servable_id: ServableId, path: str) -> None:
        """The path ``servable_id`` loads from (its metric label)."""
        with self._lock:
            self._paths[servable_id] = path

    def __call__(self, state: ServableState) -> None:
        with self._lock:
            if state.state is ManagerState.LOADING:
                self._started[state.id] = time.monotonic()
                return
            if state.state not in (ManagerState.AVAILABLE, ManagerState.END):
                return
            started = self._started.pop(state.id, None)
            path = self._paths.get(state.id, str(state.id))
            if state.state is ManagerState.END:
                self._paths.pop(state.id, None)
        if started is not None:
            ok = state.state is ManagerState.AVAILABLE
            self._metrics.record_load(path, ok, time.monotonic() - started)
