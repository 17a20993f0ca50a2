"""FileSystemStoragePathSource: aspires to the version directories under base paths.

Each poll lists every configured servable's base path, applies its
:mod:`~tensorserve.sources.servable_version_policy`, and sends the full
aspired list (one ``ServableData[str]`` per version, data = version path) to
the target. An empty list unloads every version of that servable.

Polling period (``poll_wait_seconds``): ``0`` polls once when started,
a negative value never polls (testing only), a positive value polls in a
daemon thread until :meth:`FileSystemStoragePathSource.stop`.

Differences from TensorFlow Serving, all deliberate:

* A missing base path (or any listing error) of one servable is logged and
  that servable is skipped for this round; TensorFlow Serving aborts the whole
  round, so one typo'd path stalls every other model (its issues #2189, #1693).
* A new version directory is held back until it has stopped changing
  (:mod:`~tensorserve.sources.version_settling`), so a version copied in place
  is neither loaded half-written nor failed for good. Only when polling
  periodically: a source that polls once cannot look again.
* :meth:`~FileSystemStoragePathSource.update_config` wakes the poller (or, when
  polling once, polls again) so models added by a reload appear without
  waiting a period, and :meth:`~FileSystemStoragePathSource.last_error` lets
  a reload report "base path does not exist" instead of waiting forever.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

from tensorserve.core.errors import InvalidArgument, ServingError, as_serving_error
from tensorserve.core.servable_id import ServableId
from tensorserve.core.source import AspiredVersionsCallback, ServableData, Source
from tensorserve.sources.servable_version_policy import (
    Latest,
    ServableVersionPolicy,
    Specific,
    VersionSelection,
    choose_versions,
)
from tensorserve.sources.storage import Storage, storage_for
from tensorserve.sources.version_settling import DEFAULT_SETTLE_SECONDS, SettleGate

_LOG = logging.getLogger(__name__)

StorageFactory = Callable[[str], Storage]


@dataclasses.dataclass(frozen=True, slots=True)
class ServableSourceConfig:
    """One servable to watch (``FileSystemStoragePathSourceConfig.ServableToMonitor``)."""

    name: str
    base_path: str
    version_policy: ServableVersionPolicy = dataclasses.field(default_factory=Latest)


@dataclasses.dataclass(frozen=True, slots=True)
class PollResult:
    """Outcome of the latest poll of one servable.

    ``versions`` is what was emitted (None when nothing was emitted because of
    ``error``); ``polled_at`` is a ``time.monotonic()`` reading; ``settling``
    are versions the policy would have chosen but that are still being written.
    """

    versions: tuple[int, ...] | None
    error: ServingError | None
    polled_at: float
    settling: tuple[int, ...] = ()


class FileSystemStoragePathSource(Source[str]):
    """Polls storage for version directories and emits aspired versions.

    Thread-safe: ``poll_once``, ``update_config``, ``start`` and ``stop`` may be
    called from any thread; polls never overlap, and the callback is invoked
    from the polling thread (never while holding the state lock).
    Call ``start()`` after ``set_aspired_versions_callback``.
    """

    def __init__(
        self,
        servables: Sequence[ServableSourceConfig],
        poll_wait_seconds: float = 1.0,
        *,
        storage_factory: StorageFactory = storage_for,
        servable_versions_always_present: bool = False,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        settle_gate: Callable[[float], SettleGate] = SettleGate,
    ) -> None:
        self._poll_wait_seconds = poll_wait_seconds
        # Polling once leaves no later poll to let a held-back version through.
        self._settle_seconds = settle_seconds if poll_wait_seconds > 0 else 0.0
        self._settle_gate = settle_gate
        self._gates: dict[str, SettleGate] = {}
        self._storage_factory = storage_factory
        self._always_present = servable_versions_always_present
        self._state_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._servables: tuple[ServableSourceConfig, ...] = _check_unique(servables)
        self._storages: dict[str, Storage] = {}
        self._results: dict[str, PollResult] = {}
        self._callback: AspiredVersionsCallback[str] | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False

    @property
    def poll_wait_seconds(self) -> float:
        return self._poll_wait_seconds

    def servables(self) -> tuple[ServableSourceConfig, ...]:
        with self._state_lock:
            return self._servables

    def set_aspired_versions_callback(self, callback: AspiredVersionsCallback[str]) -> None:
        with self._state_lock:
            self._callback = callback

    def start(self) -> None:
        """Begin polling as ``poll_wait_seconds`` says; a second call does nothing.

        With a period of 0 the single poll runs in the calling thread.
        """
        with self._state_lock:
            if self._started:
                return
            self._started = True
        if self._poll_wait_seconds == 0:
            self.poll_once()
        elif self._poll_wait_seconds > 0:
            self._thread = threading.Thread(
                target=self._poll_forever, name="FileSystemStoragePathSource", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop polling and wait up to ``timeout`` seconds for the thread to end."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def update_config(self, servables: Sequence[ServableSourceConfig]) -> None:
        """Replace the watched servables; removed ones get an empty aspired list now."""
        new = _check_unique(servables)
        with self._state_lock:
            kept = {s.name for s in new}
            removed = [s.name for s in self._servables if s.name not in kept]
            self._servables = new
            for name in removed:
                self._results.pop(name, None)
            callback, started = self._callback, self._started
        with self._poll_lock:
            for name in removed:
                self._gates.pop(name, None)
                _LOG.info("Unaspiring servable %s", name)
                if callback is not None:
                    callback(name, [])
        if started and self._poll_wait_seconds == 0:
            self.poll_once()
        self._wake.set()

    def last_poll(self, name: str) -> PollResult | None:
        """The latest poll outcome for ``name``, or None before its first poll."""
        with self._state_lock:
            return self._results.get(name)

    def last_error(self, name: str) -> ServingError | None:
        """Why the latest poll of ``name`` emitted nothing (e.g. missing base path)."""
        result = self.last_poll(name)
        return None if result is None else result.error

    def poll_once(self) -> dict[str, PollResult]:
        """Poll every servable now and emit its aspired versions; returns the outcomes."""
        with self._poll_lock:
            with self._state_lock:
                servables, callback = self._servables, self._callback
            outcomes = {s.name: self._poll_servable(s) for s in servables}
            results = {name: result for name, (result, _) in outcomes.items()}
            with self._state_lock:
                current = {s.name for s in self._servables}
                self._results.update({n: r for n, r in results.items() if n in current})
            for name, (_, aspired) in outcomes.items():
                if callback is not None and aspired is not None:
                    callback(name, aspired)
            return results

    def _poll_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling: a bug in one round must not stop serving
                _LOG.exception("FileSystemStoragePathSource poll failed")
            self._wake.wait(self._poll_wait_seconds)
            self._wake.clear()

    def _poll_servable(
        self, servable: ServableSourceConfig
    ) -> tuple[PollResult, list[ServableData[str]] | None]:
        """One servable's poll outcome and the aspired list to emit (None: emit nothing)."""
        try:
            storage = self._storage(servable.base_path)
            selection, settling = self._select(storage, servable)
        except Exception as exc:
            error = as_serving_error(exc)
            _LOG.error(
                "FileSystemStoragePathSource encountered a filesystem access error: %s",
                error.message,
            )
            return PollResult(None, error, time.monotonic()), None
        if settling:
            _LOG.info(
                "Waiting for version(s) %s of servable %s to stop changing before loading",
                ", ".join(map(str, settling)),
                servable.name,
            )
        for warning in selection.warnings if not settling else ():
            _LOG.warning("%s", warning)
        if not selection.versions and self._always_present:
            _LOG.warning("Refusing to unload all versions for Servable: %s", servable.name)
            return PollResult(None, None, time.monotonic(), settling), None
        aspired = [
            ServableData(
                ServableId(servable.name, d.version), storage.join(servable.base_path, d.name)
            )
            for d in selection.versions
        ]
        versions = tuple(d.version for d in selection.versions)
        return PollResult(versions, None, time.monotonic(), settling), aspired

    def _select(
        self, storage: Storage, servable: ServableSourceConfig
    ) -> tuple[VersionSelection, tuple[int, ...]]:
        """The policy's choice among the settled children, and the held-back versions."""
        try:
            found = storage.exists(servable.base_path)
            detail = f"NOT_FOUND: {servable.base_path} not found"
        except Exception as exc:
            found, detail = False, as_serving_error(exc).with_prefix()
        if not found:
            raise InvalidArgument(
                f"Could not find base path {servable.base_path} for servable "
                f"{servable.name} with error {detail}"
            )
        children = _specific_fast_path(storage, servable)
        if children is None:
            children = storage.list_children(servable.base_path)
        gate = self._gates.get(servable.name)
        if gate is None:
            gate = self._gates[servable.name] = self._settle_gate(self._settle_seconds)
        gate.keep_only(storage.join(servable.base_path, c) for c in children)
        settling: list[int] = []
        while True:  # each round drops at least one child, so this ends
            selection = choose_versions(
                servable.name, servable.base_path, children, servable.version_policy
            )
            unsettled = {
                d.name: d.version
                for d in selection.versions
                if not gate.is_settled(storage, storage.join(servable.base_path, d.name))
            }
            if not unsettled:
                return selection, tuple(sorted(settling))
            settling.extend(unsettled.values())
            children = [c for c in children if c not in unsettled]

    def _storage(self, base_path: str) -> Storage:
        """The storage for ``base_path``, made once (call under ``_poll_lock``)."""
        storage = self._storages.get(base_path)
        if storage is None:
            storage = self._storages[base_path] = self._storage_factory(base_path)
        return storage


def _specific_fast_path(storage: Storage, servable: ServableSourceConfig) -> list[str] | None:
    """For a specific policy whose versions all exist as ``<base>/<v>``, skip listing."""
    policy = servable.version_policy
    if not isinstance(policy, Specific) or not policy.versions:
        return None
    names = [str(v) for v in policy.versions]
    if all(storage.exists(storage.join(servable.base_path, n)) for n in names):
        return names
    return None


def _check_unique(servables: Sequence[ServableSourceConfig]) -> tuple[ServableSourceConfig, ...]:
    names = [s.name for s in servables]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidArgument(f"Duplicate servable names in source config: {duplicates}")
    return tuple(servables)
