"""The AspiredVersionsManager: loads what sources aspire to, unloads the rest.

Sources call :meth:`AspiredVersionsManager.aspired_versions_callback` with the
full list of versions they want per servable name. A manage-state thread (or
:meth:`~AspiredVersionsManager.manage_state_once` in tests) reconciles: each
tick it (a) forgets un-aspired versions whose last job ended in a final state, (b)
applies the newest pending list of each name, (c) asks the version policy
for one action per stream, orders unloads before loads and executes the
first. Loads run on ``num_load_threads`` pool threads, or inline in the tick
when that is 0 (TF Serving's default); unloads likewise.

The transitions themselves (resources, serving map, published states) are
:class:`~tensorserve.core.version_transitions.VersionTransitions`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence

from tensorserve.core.loader import Loader
from tensorserve.core.loader_harness import HarnessState, LoaderHarness, RetryOptions
from tensorserve.core.manager import Manager, ServableHandle
from tensorserve.core.resource_tracker import ResourceTracker
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ServableStateMonitor
from tensorserve.core.serving_map import ServingMap
from tensorserve.core.source import ServableData
from tensorserve.core.version_policy import (
    ActionKind,
    AspiredVersionState,
    AvailabilityPreservingPolicy,
    VersionAction,
    VersionPolicy,
    order_actions,
)
from tensorserve.core.version_transitions import VersionTransitions

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ManagerOptions:
    """Settings of one AspiredVersionsManager (TF Serving's ``Options``)."""

    #: Chooses each stream's next load or unload.
    version_policy: VersionPolicy = dataclasses.field(default_factory=AvailabilityPreservingPolicy)
    #: Threads running loads; 0 runs each load inline in the manage-state tick.
    num_load_threads: int = 0
    #: Threads running unloads; 0 runs each unload inline in the manage-state tick.
    num_unload_threads: int = 0
    #: Retries after a failed load attempt (5 means 6 attempts).
    max_num_load_retries: int = 5
    #: Seconds between load attempts.
    load_retry_interval_s: float = 60.0
    #: Seconds one load attempt may take before it is abandoned; None is no limit.
    load_timeout_s: float | None = None
    #: Seconds between manage-state ticks when nothing wakes the thread sooner.
    manage_state_interval_s: float = 0.1
    #: RAM budget for all loaded versions; None is unlimited.
    total_memory_bytes: int | None = None


@dataclasses.dataclass(frozen=True)
class _AspiredSnapshot:
    """What the ticks have applied, replaced whole after each tick so readers take no lock
    the ticks hold: per name, how many lists were applied and the versions now aspired."""

    applied: Mapping[str, int] = dataclasses.field(default_factory=dict)
    aspired: Mapping[str, frozenset[int]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(eq=False)
class _ManagedVersion:
    harness: LoaderHarness
    is_aspired: bool = True
    #: A load or unload job runs for it. Its harness reaches a final state before the
    #: job publishes END, so a version is forgotten only once its job ended: else a
    #: re-aspired version's START could precede the old END. Set by the tick, cleared
    #: by the job's thread as it ends (a bool store needs no lock).
    in_flight: bool = False


class AspiredVersionsManager(Manager):
    """A Manager that is also the target of sources. Thread-safe.

    ``aspired_versions_callback``, ``get_servable_handle`` and
    ``available_ids`` may be called from any thread; handle lookups take no
    lock. Ticks are serialised, so ``manage_state_once`` may be called from a
    test while no ``start()``-ed thread runs.
    """

    def __init__(
        self, monitor: ServableStateMonitor, options: ManagerOptions | None = None
    ) -> None:
        self.options = options or ManagerOptions()
        self._retry = RetryOptions(
            self.options.max_num_load_retries,
            self.options.load_retry_interval_s,
            self.options.load_timeout_s,
        )
        self._tracker = ResourceTracker(self.options.total_memory_bytes)
        self._serving_map = ServingMap()
        self._transitions = VersionTransitions(
            self._tracker, self._serving_map, monitor, self._retry
        )
        self._pending_lock = threading.Lock()
        self._pending: dict[str, list[ServableData[Loader]]] = {}
        # Lists received per name (under _pending_lock) and applied by the ticks.
        self._received: dict[str, int] = {}
        self._applied: dict[str, int] = {}
        self._aspired = _AspiredSnapshot()
        self._accepting = True
        self._tick_lock = threading.Lock()
        self._streams: dict[str, dict[int, _ManagedVersion]] = {}
        self._wake = threading.Event()
        self._exit = threading.Event()
        self._thread: threading.Thread | None = None
        self._load_pool = _make_pool(self.options.num_load_threads, "tensorserve-load")
        self._unload_pool = _make_pool(self.options.num_unload_threads, "tensorserve-unload")

    # -- Manager ---------------------------------------------------------------

    def get_servable_handle(self, request: ServableRequest) -> ServableHandle:
        return self._serving_map.get_handle(request)

    def available_ids(self) -> list[ServableId]:
        return self._serving_map.ids()

    def aspires(self, name: str, versions: Iterable[int]) -> bool:
        """True when the newest list received for ``name`` has been applied and it
        aspires to every one of ``versions``. Thread-safe; never waits for a tick.

        This is how a caller knows its list took effect: lists are kept newest per
        name, so an un-aspire followed by a re-aspire before a tick is applied as the
        second list only, and the versions never leave (nor publish a new START).
        """
        with self._pending_lock:
            received = self._received.get(name, 0)
        snapshot = self._aspired  # read after ``received``: it is at least as new
        if snapshot.applied.get(name, 0) < received:
            return False
        return frozenset(versions) <= snapshot.aspired.get(name, frozenset())

    # -- Source target ---------------------------------------------------------

    def aspired_versions_callback(
        self, name: str, versions: Sequence[ServableData[Loader]]
    ) -> None:
        """Replace the aspired versions of ``name``; an empty list unloads them all.

        Thread-safe and cheap: the list is queued (replacing any list still
        pending for ``name``) and the manage-state thread is woken.
        """
        wrong = [str(v.id) for v in versions if v.id.name != name]
        if wrong:
            _log.error("Ignoring aspired versions %s sent for servable %r", wrong, name)
        with self._pending_lock:
            if not self._accepting:
                return
            self._pending[name] = [v for v in versions if v.id.name == name]
            self._received[name] = self._received.get(name, 0) + 1
        self._wake.set()

    # -- Lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the manage-state thread."""
        if self._thread is not None:
            raise RuntimeError("AspiredVersionsManager already started")
        self._thread = threading.Thread(
            target=self._manage_state_loop, name="tensorserve-manage-state", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Unaspire and unload every version, waiting for open handles, then stop.

        Later aspired-versions calls are ignored. Returns False if ``timeout``
        seconds passed before everything was unloaded; with inline unloads
        (``num_unload_threads=0``) an open handle blocks past the timeout.
        Calling it again resumes the wait.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._pending_lock:
            self._accepting = False  # the next tick unaspires every stream
        self._exit.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(_remaining(deadline))
            if self._thread.is_alive():
                return False
        while True:
            self._wake.clear()
            acted = self.manage_state_once()
            if not self._has_versions():
                break
            if acted:
                continue
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                return False
            wait_s = self.options.manage_state_interval_s
            self._wake.wait(wait_s if remaining is None else min(wait_s, remaining))
        for pool in (self._load_pool, self._unload_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        return True

    def _has_versions(self) -> bool:
        with self._tick_lock:
            return bool(self._streams)

    def _manage_state_loop(self) -> None:
        while not self._exit.is_set():
            self._wake.clear()
            try:
                acted = self.manage_state_once()
            except Exception:
                _log.exception("Manage-state tick failed")
                acted = False
            if not acted:
                self._wake.wait(self.options.manage_state_interval_s)

    # -- One tick --------------------------------------------------------------

    def manage_state_once(self) -> bool:
        """Run one tick; True when it started a load or unload."""
        with self._tick_lock:
            self._forget_finished_unaspired()
            self._apply_pending_lists()
            self._forget_finished_unaspired()  # what the new lists just unaspired
            self._publish_aspired()
            proposals = []
            for name in sorted(self._streams):
                action = self.options.version_policy.next_action(self._snapshot(name))
                if action is not None:
                    proposals.append(action)
            actions = order_actions(proposals)
            if not actions:
                return False
            self._execute(actions[0])
            return True

    def _snapshot(self, name: str) -> list[AspiredVersionState]:
        return [
            AspiredVersionState(m.harness.id, m.harness.state, m.is_aspired)
            for _, m in sorted(self._streams[name].items())
        ]

    def _forget_finished_unaspired(self) -> None:
        forgettable = (HarnessState.NEW, HarnessState.DISABLED, HarnessState.ERROR)
        for name in list(self._streams):
            stream = self._streams[name]
            for version, managed in list(stream.items()):
                state = managed.harness.state
                if managed.is_aspired or managed.in_flight or state not in forgettable:
                    continue
                del stream[version]
                if state is HarnessState.NEW:
                    self._transitions.forget_never_loaded(managed.harness.id)
            if not stream:
                del self._streams[name]

    def _apply_pending_lists(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            received = {name: self._received.get(name, 0) for name in pending}
            if not self._accepting:
                pending = {name: [] for name in self._streams}
        for name, versions in pending.items():
            if not self._apply_aspired_list(name, versions):
                with self._pending_lock:  # keep it unless a newer list arrived
                    self._pending.setdefault(name, versions)
            elif name in received:
                self._applied[name] = received[name]

    def _publish_aspired(self) -> None:
        aspired = {
            name: frozenset(v for v, m in stream.items() if m.is_aspired)
            for name, stream in self._streams.items()
        }
        self._aspired = _AspiredSnapshot(
            types.MappingProxyType(dict(self._applied)), types.MappingProxyType(aspired)
        )

    def _apply_aspired_list(self, name: str, versions: Sequence[ServableData[Loader]]) -> bool:
        """Apply one list; False (deferred) when it re-aspires a version still unloading
        (or whose END is not yet published)."""
        stream = self._streams.get(name, {})
        wanted = {data.id.version: data for data in versions}
        if any(v in stream and not stream[v].is_aspired for v in wanted):
            return False
        for version, managed in stream.items():
            if version not in wanted and managed.is_aspired:
                managed.is_aspired = False
                managed.harness.cancel_load_retries()
        for version, data in sorted(wanted.items()):
            if version not in stream:
                stream[version] = _ManagedVersion(self._transitions.track(data))
        if stream:
            self._streams[name] = stream
        return True

    def _execute(self, action: VersionAction) -> None:
        managed = self._streams[action.id.name][action.id.version]
        managed.in_flight = True
        if action.kind is ActionKind.LOAD:
            managed.harness.load_requested()
            _run(self._load_pool, self._guarded(self._transitions.load, managed))
        else:
            managed.harness.unload_requested()
            self._tracker.start_unload()
            _run(self._unload_pool, self._guarded(self._transitions.unload, managed))

    def _guarded(
        self, job: Callable[[LoaderHarness], None], managed: _ManagedVersion
    ) -> Callable[[], None]:
        def run() -> None:
            try:
                job(managed.harness)
            except Exception:
                _log.exception("Unexpected failure managing %s", managed.harness.id)
            finally:
                managed.in_flight = False
                self._wake.set()

        return run


def _make_pool(threads: int, prefix: str) -> concurrent.futures.ThreadPoolExecutor | None:
    if threads <= 0:
        return None
    return concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix=prefix)


def _run(pool: concurrent.futures.ThreadPoolExecutor | None, job: Callable[[], None]) -> None:
    if pool is None:
        job()
    else:
        pool.submit(job)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
