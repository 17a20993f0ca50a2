"""ServerCore: the models a server serves, and how its model config changes.

It owns the source chain (file-system source -> platform router -> manager),
the version labels and the current ``ModelServerConfig``, and answers the
question TensorFlow Serving's ``ServerCore`` answers: "has this config
taken effect yet?". Unlike TensorFlow Serving it never waits forever: a model
whose base path is missing or holds no version is reported, not waited for.

It is also the data plane's :class:`~tensorserve.dataplane.ModelRepository`
(Triton's repository extension): ``unload`` stops serving a configured model
(its versions go UNLOADING -> END) and ``load`` serves it again with its
configured version policy, through the same source and manager as a config
reload, so the manager's availability guarantees hold.

It is also the one place that says whether this server is ready for traffic
(:meth:`ServerCore.readiness`): every configured model has an AVAILABLE
version and the server is not draining. ``/readyz``, the gRPC health service
and V2's server-ready all read it, so they flip together on SIGTERM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from tensorserve.config.model_server_config import (
    ModelConfig,
    ModelServerConfig,
    validate_model_server_config,
    validate_version_labels,
)
from tensorserve.core.aspired_versions_manager import AspiredVersionsManager
from tensorserve.core.errors import NotFound, ServingError, Unknown
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane.repository import RepositoryEntry, entries_of
from tensorserve.dataplane.version_labels import VersionLabels
from tensorserve.sources.file_system_source import (
    FileSystemStoragePathSource,
    ServableSourceConfig,
)
from tensorserve.sources.source_adapter import PlatformRouter

_LOG = logging.getLogger(__name__)

LoaderFactory = Callable[[ServableId, str], Loader]
_SETTLED = (ManagerState.AVAILABLE, ManagerState.END)


@dataclasses.dataclass(frozen=True, slots=True)
class ModelProblem:
    """Why a configured model has no available version."""

    name: str
    message: str


class ServerCore:
    """Applies model configs to the source chain and waits for them to take effect.

    Thread-safe: ``reload_config`` calls are serialised; call it from a worker
    thread (it blocks while models load).
    """

    def __init__(
        self,
        manager: AspiredVersionsManager,
        monitor: ServableStateMonitor,
        platforms: Mapping[str, LoaderFactory],
        poll_wait_seconds: float,
        *,
        allow_version_labels_for_unavailable_models: bool = False,
        on_labels: Callable[[VersionLabels], None] = lambda _labels: None,
    ) -> None:
        self.manager = manager
        self.monitor = monitor
        self._router = PlatformRouter(platforms)
        self._router.set_aspired_versions_callback(manager.aspired_versions_callback)
        self._source = FileSystemStoragePathSource([], poll_wait_seconds)
        self._source.set_aspired_versions_callback(self._router.on_aspired_versions)
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._on_labels = on_labels
        self._labels = VersionLabels()
        self._config: ModelServerConfig | None = None
        # Configured models that model control unloaded; not given to the source.
        self._unloaded: frozenset[str] = frozenset()
        self._reload_lock = threading.Lock()
        self._started = False
        self._draining = threading.Event()
        self._stopping = threading.Event()

    @property
    def config(self) -> ModelServerConfig | None:
        return self._config

    @property
    def labels(self) -> VersionLabels:
        return self._labels

    @property
    def draining(self) -> bool:
        """True once :meth:`begin_drain` was called: the server is going away."""
        return self._draining.is_set()

    def begin_drain(self) -> None:
        """Report not ready from now on (the requests still arriving are served).
        Thread-safe; cannot be undone."""
        self._draining.set()

    def start(self) -> None:
        self.manager.start()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop polling, then unload every version (waiting for open requests).

        Reloads and model-control calls still waiting for models return at once:
        the stopped manager aspires nothing, so what they wait for can never come,
        and a waiting thread would hold the process's exit.
        """
        self._stopping.set()
        self._source.stop()
        return self.manager.stop(timeout)

    def reload_config(self, config: ModelServerConfig, timeout: float | None = None) -> None:
        """Make ``config`` the served set of models and wait until it takes effect.

        Labels of models already served are checked first (a rejected reload
        changes nothing); then models absent from ``config`` are unloaded, new
        ones (a re-added model included) are loaded and waited for until
        AVAILABLE or END, and the new models' labels are checked against the
        versions now available. Raises ServingError with TensorFlow Serving's
        messages.
        """
        with self._reload_lock:
            if not config.has_model_list:
                return  # an empty config text means "take no action"
            # An unknown platform fails only its own model (the router ends its
            # versions with the error); every other check still refuses the config.
            named = {m.platform for m in config.models}
            validate_model_server_config(config, self._config, supported_platforms=named)
            previous = {m.name for m in self._config.models} if self._config else set()
            # As TF Serving: labels of models already served are checked before anything
            # changes, so a rejected reload leaves the served models as they were.
            self._check_labels(m for m in config.models if m.name in previous)
            new_names = [m.name for m in config.models if m.name not in previous]
            self._router.update_routes({m.name: m.platform for m in config.models})
            # An explicit unload stands until a load, as long as the model stays configured.
            self._unloaded &= set(config.names)
            # A removed model keeps its states (END once unloaded), as in TF Serving: the
            # manager may yet keep its versions, if a reload restores it before a tick.
            self._update_source(config)
            if not self._started:
                self._started = True
                self._source.start()  # polls at once (in this thread when the period is 0)
            # No extra poll here: update_config already woke the polling thread, and a
            # second listing per reload is what object-store users pay for.
            self._config = config
            problems = self.wait_for_models(new_names, timeout)
            self._apply_labels(config)
            if problems:
                details = ", ".join(f"{{{p.message}}}" for p in problems)
                raise Unknown(f"{len(problems)} model(s) did not become available: {details}, ")

    def wait_for_models(self, names: Iterable[str], timeout: float | None) -> list[ModelProblem]:
        """Block until each model's aspired versions are AVAILABLE or END, or the
        source says it has none; return the models that ended without one."""
        names = list(names)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pending = [n for n in names if not self._settled(n)]
            if not pending:
                break
            if self._stopping.is_set():
                return [ModelProblem(n, f"{n}: the server is shutting down") for n in pending]
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return [ModelProblem(n, f"{n}: still loading after {timeout}s") for n in pending]
            # State changes wake the wait; source polls don't, so re-check twice a second.
            self.monitor.wait_for(
                _all_settled(self, pending), 0.5 if remaining is None else min(remaining, 0.5)
            )
        return [p for p in (self._problem(n) for n in names) if p is not None]

    def readiness(self) -> tuple[bool, dict[str, str]]:
        """Ready when every configured model has an AVAILABLE version and the server
        is not draining; else False and, per model (or ``server``), why not.
        Thread-safe."""
        if self._draining.is_set():
            return False, {"server": "shutting down: draining requests"}
        config = self._config
        if config is None:
            return False, {"server": "no model config loaded yet"}
        not_ready = {}
        for model in config.models:
            if model.name in self._unloaded:
                # A replica without one of its models must leave the load balancer.
                not_ready[model.name] = "unloaded through the repository API"
                continue
            problem = self._problem(model.name)
            if problem is not None:
                not_ready[model.name] = problem.message
        return not not_ready, not_ready

    # -- model control (ModelRepository) ---------------------------------------

    def index(self) -> list[RepositoryEntry]:
        """Every model of the current config with each version's state."""
        config = self._config
        if config is None:
            return []
        entries = []
        for name in sorted(config.names):
            if name in self._unloaded:
                reason = "unloaded"
            else:
                problem = self._problem(name)
                reason = problem.message if problem is not None else ""
            entries.extend(entries_of(name, self.monitor.versions(name), reason))
        return entries

    async def load(self, name: str) -> None:
        """Serve configured model ``name`` again; returns once a version is AVAILABLE."""
        await asyncio.to_thread(self.load_model, name)

    async def unload(self, name: str) -> None:
        """Stop serving configured model ``name``; returns once its versions reached END."""
        await asyncio.to_thread(self.unload_model, name)

    def load_model(self, name: str, timeout: float | None = None) -> None:
        """Blocking :meth:`load`: raises NotFound for a name not in the config, or the
        error that kept every version from becoming AVAILABLE."""
        with self._reload_lock:
            config = self._configured(name)
            self._unloaded = self._unloaded - {name}
            self._update_source(config)
            problems = self.wait_for_models([name], timeout)
        if problems:
            raise self._load_error(name, problems[0])

    def unload_model(self, name: str, timeout: float | None = None) -> None:
        """Blocking :meth:`unload`: the manager unloads each version once no request
        holds it. NotFound for a name not in the config."""
        with self._reload_lock:
            config = self._configured(name)
            self._unloaded = self._unloaded | {name}
            self._update_source(config)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.monitor.wait_for(_all_ended(name), 1.0):
            if self._stopping.is_set() or (deadline is not None and time.monotonic() > deadline):
                return

    def _configured(self, name: str) -> ModelServerConfig:
        config = self._config
        if config is None or name not in config.names:
            raise NotFound(f"Model {name} is not in the model config")
        return config

    def _update_source(self, config: ModelServerConfig) -> None:
        self._source.update_config(
            [_source_config(m) for m in config.models if m.name not in self._unloaded]
        )

    def _load_error(self, name: str, problem: ModelProblem) -> ServingError:
        poll = self._source.last_poll(name)
        if poll is not None and poll.error is not None:
            return poll.error
        failed = [s for s in self.monitor.versions(name).values() if s.error is not None]
        if failed:
            error = max(failed, key=lambda s: s.id.version).error
            if isinstance(error, ServingError):
                return error
        return Unknown(problem.message)

    def is_ready(self) -> bool:
        """``readiness()`` without the details. Thread-safe."""
        return self.readiness()[0]

    def _settled(self, name: str) -> bool:
        poll = self._source.last_poll(name)
        if poll is None:
            # A negative period never polls (TF Serving's testing mode): nothing will come.
            return self._source.poll_wait_seconds < 0
        if poll.error is not None:
            return True
        if not poll.versions:  # none, or only some still being written (wait for those)
            return not poll.settling
        # Until the manager has applied the list the poll sent, the states are of an
        # earlier life (a re-added model's old AVAILABLE or END); once it has, a
        # re-tracked version has published START and a kept one its current state.
        if not self.manager.aspires(name, poll.versions):
            return False
        # Every aspired version, not only the newest: labels may name any of them.
        states = self.monitor.versions(name)
        return all(
            (state := states.get(v)) is not None and state.state in _SETTLED for v in poll.versions
        )

    def _problem(self, name: str) -> ModelProblem | None:
        states = self.monitor.versions(name)
        if any(s.state is ManagerState.AVAILABLE for s in states.values()):
            return None
        poll = self._source.last_poll(name)
        if poll is not None and poll.error is not None:
            return ModelProblem(name, poll.error.message)
        if poll is not None and not poll.versions and poll.settling:
            versions = ", ".join(map(str, poll.settling))
            return ModelProblem(name, f"{name}: version {versions} is still being written")
        if poll is not None and not poll.versions:
            return ModelProblem(name, f"No versions of servable {name} found")
        failed = [s for s in states.values() if s.error is not None]
        if failed:
            newest = max(failed, key=lambda s: s.id.version)
            return ModelProblem(name, f"{newest.id} due to error: {_error_text(newest)}")
        return ModelProblem(name, f"{name}: no version is available yet")

    def _apply_labels(self, config: ModelServerConfig) -> None:
        self._check_labels(config.models)
        self._labels = VersionLabels({m.name: m.version_labels for m in config.models})
        self._on_labels(self._labels)

    def _check_labels(self, models: Iterable[ModelConfig]) -> None:
        """Raise FailedPrecondition unless each label points at an AVAILABLE version
        (or may point elsewhere, per ``allow_version_labels_for_unavailable_models``)."""
        for model in models:
            available = {
                v
                for v, s in self.monitor.versions(model.name).items()
                if s.state is ManagerState.AVAILABLE
            }
            validate_version_labels(
                model,
                available,
                self._labels.for_model(model.name),
                allow_labels_for_unavailable_models=self._allow_unavailable_labels,
            )


def _all_settled(core: ServerCore, names: list[str]) -> Callable[[object], bool]:
    return lambda _states: all(core._settled(n) for n in names)


def _all_ended(name: str) -> Callable[[dict[str, dict[int, ServableState]]], bool]:
    return lambda states: all(s.state is ManagerState.END for s in states.get(name, {}).values())


def _source_config(model: ModelConfig) -> ServableSourceConfig:
    return ServableSourceConfig(model.name, model.base_path, model.version_policy)


def _error_text(state: ServableState) -> str:
    error = state.error
    return error.with_prefix() if isinstance(error, ServingError) else str(error)
