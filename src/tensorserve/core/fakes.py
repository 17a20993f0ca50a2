"""In-memory doubles of the core's interfaces, for tests of every layer.

``FakeLoader`` is TF Serving's ``test_util/fake_loader``: it can fail a number
of attempts, block ``load``/``unload`` on events the test controls, and
records its calls. ``FakeSource`` pushes aspired lists by hand, and
``StateRecorder`` keeps every published state in order. None does I/O.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Sequence
from typing import Any

from tensorserve.core.errors import FailedPrecondition, ServingError, Unknown
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.core.source import AspiredVersionsCallback, ServableData, Source

#: ``failing_loads`` value for a loader whose every attempt fails.
ALWAYS = sys.maxsize


@dataclasses.dataclass(eq=False)
class FakeServable:
    """What a FakeLoader serves; ``loaded`` turns False once it is unloaded."""

    name: str
    loaded: bool = False


class FakeLoader(Loader):
    """A scripted Loader. Thread-safe.

    ``failing_loads`` attempts raise ``load_error`` before one succeeds.
    When ``load_gate``/``unload_gate`` are given, ``load``/``unload`` block
    until the test sets them; ``load_started``/``unload_started`` tell the
    test that a call is waiting there.
    """

    def __init__(
        self,
        name: str = "fake",
        *,
        ram_bytes: int = 0,
        transient_ram_bytes: int = 0,
        failing_loads: int = 0,
        load_error: ServingError | None = None,
        unload_error: ServingError | None = None,
        load_gate: threading.Event | None = None,
        unload_gate: threading.Event | None = None,
    ) -> None:
        self.servable_object = FakeServable(name)
        self.estimate = ResourceEstimate(ram_bytes, transient_ram_bytes)
        self.load_error = load_error or Unknown(f"Fake load failure of {name}")
        self.unload_error = unload_error
        self.load_gate = load_gate
        self.unload_gate = unload_gate
        self.load_started = threading.Event()
        self.unload_started = threading.Event()
        self._lock = threading.Lock()
        self._failures_left = failing_loads
        self.load_calls = 0
        self.unload_calls = 0

    @classmethod
    def failing(cls, name: str = "fake", error: ServingError | None = None) -> FakeLoader:
        """A loader whose every load attempt raises ``error``."""
        return cls(name, failing_loads=ALWAYS, load_error=error)

    def estimate_resources(self) -> ResourceEstimate:
        return self.estimate

    def load(self) -> None:
        with self._lock:
            self.load_calls += 1
        self.load_started.set()
        if self.load_gate is not None:
            self.load_gate.wait()
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                raise self.load_error
            self.servable_object.loaded = True

    def unload(self) -> None:
        with self._lock:
            self.unload_calls += 1
        self.unload_started.set()
        if self.unload_gate is not None:
            self.unload_gate.wait()
        with self._lock:
            self.servable_object.loaded = False
        if self.unload_error is not None:
            raise self.unload_error

    def servable(self) -> Any:
        if not self.servable_object.loaded:
            raise FailedPrecondition("FakeLoader.servable() called while not loaded")
        return self.servable_object


class FakeSource(Source[Loader]):
    """A Source a test drives by hand with ``emit``."""

    def __init__(self) -> None:
        self._callback: AspiredVersionsCallback[Loader] | None = None

    def set_aspired_versions_callback(self, callback: AspiredVersionsCallback[Loader]) -> None:
        self._callback = callback

    def emit(self, name: str, versions: Sequence[ServableData[Loader]]) -> None:
        if self._callback is None:
            raise RuntimeError("FakeSource has no callback")
        self._callback(name, versions)


def servable_data(name: str, version: int, loader: Loader) -> ServableData[Loader]:
    """``ServableData`` for one loader, the shape sources emit."""
    return ServableData(ServableId(name, version), loader)


class StateRecorder:
    """A state listener keeping every published state in order. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: list[ServableState] = []

    def __call__(self, state: ServableState) -> None:
        with self._lock:
            self._states.append(state)

    @property
    def states(self) -> list[ServableState]:
        with self._lock:
            return list(self._states)

    def states_of(self, servable_id: ServableId) -> list[ManagerState]:
        return [s.state for s in self.states if s.id == servable_id]
