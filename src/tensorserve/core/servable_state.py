"""Version states as clients see them (``GetModelStatus``), and their monitor.

States only move forward::

    START -> LOADING -> AVAILABLE -> UNLOADING -> END
      \\________\\______________________________/
       (a failure at any point ends in END with an error)

``START`` is published when the manager starts tracking an aspired version,
``AVAILABLE`` after the version is in the serving map, ``UNLOADING`` before it
leaves it, and ``END`` when it is gone (status OK) or failed (status = error).
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import time
from collections.abc import Callable

from tensorserve.core.errors import ServingError
from tensorserve.core.servable_id import ServableId


class ManagerState(enum.IntEnum):
    """``tensorflow.serving.ModelVersionStatus.State`` numbers."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclasses.dataclass(frozen=True, slots=True)
class ServableState:
    id: ServableId
    state: ManagerState
    error: ServingError | None = None


StateListener = Callable[[ServableState], None]


class ServableStateMonitor:
    """Remembers the latest state of every version ever seen, and lets callers wait.

    Thread-safe. TensorFlow Serving keeps END entries of old versions forever;
    so do we, up to ``max_ended_per_name`` per name (its list grows without
    bound, a complaint its users raise).
    """

    def __init__(self, max_ended_per_name: int = 100) -> None:
        self._states: dict[str, dict[int, ServableState]] = {}
        self._cond = threading.Condition()
        self._listeners: list[StateListener] = []
        self._max_ended = max_ended_per_name

    def add_listener(self, listener: StateListener) -> None:
        with self._cond:
            self._listeners.append(listener)

    def publish(self, state: ServableState) -> None:
        with self._cond:
            versions = self._states.setdefault(state.id.name, {})
            versions[state.id.version] = state
            self._trim(versions)
            listeners = list(self._listeners)
            self._cond.notify_all()
        for listener in listeners:
            listener(state)

    def _trim(self, versions: dict[int, ServableState]) -> None:
        ended = [v for v, s in versions.items() if s.state is ManagerState.END]
        for v in sorted(ended)[: max(0, len(ended) - self._max_ended)]:
            del versions[v]

    def versions(self, name: str) -> dict[int, ServableState]:
        """Latest state of every version of ``name`` seen so far."""
        with self._cond:
            return dict(self._states.get(name, {}))

    def names(self) -> list[str]:
        with self._cond:
            return sorted(self._states)

    def forget(self, name: str) -> None:
        """Drop the history of a name whose model was removed from the config."""
        with self._cond:
            self._states.pop(name, None)

    def wait_for(
        self, predicate: Callable[[dict[str, dict[int, ServableState]]], bool], timeout: float
    ) -> bool:
        """Block until ``predicate(all states)`` holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._states):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
