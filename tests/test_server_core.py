"""ServerCore applies model configs to the source chain and waits for them, with fakes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tensorserve.config.model_server_config import ModelConfig, ModelServerConfig
from tensorserve.core.aspired_versions_manager import AspiredVersionsManager, ManagerOptions
from tensorserve.core.errors import FailedPrecondition, NotFound, ServingError, Unknown
from tensorserve.core.fakes import FakeLoader
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ManagerState, ServableStateMonitor
from tensorserve.dataplane.repository import RepositoryEntry
from tensorserve.dataplane.version_labels import VersionLabels
from tensorserve.server_core import ServerCore
from tensorserve.sources.servable_version_policy import All
from tests.core.test_aspired_versions_manager import EndHeld
from tests.support.waiting import wait_until

Core = tuple[ServerCore, list[VersionLabels]]


class Platform:
    """Loader factory: a fake loader per version; paths containing 'broken' fail."""

    def __init__(self) -> None:
        self.loaders: dict[ServableId, FakeLoader] = {}

    def __call__(self, servable_id: ServableId, path: str) -> Loader:
        failing = 1 if "broken" in path else 0
        loader = FakeLoader(str(servable_id), failing_loads=failing)
        self.loaders[servable_id] = loader
        return loader


@pytest.fixture
def core() -> Iterator[Core]:
    monitor = ServableStateMonitor()
    manager = AspiredVersionsManager(
        monitor, ManagerOptions(max_num_load_retries=0, load_retry_interval_s=0)
    )
    published: list[VersionLabels] = []
    server_core = ServerCore(
        manager,
        monitor,
        {"tensorflow": Platform()},
        poll_wait_seconds=0,
        on_labels=published.append,
    )
    server_core.start()
    yield server_core, published
    server_core.stop(timeout=10)


def model_dir(root: Path, name: str, *versions: int) -> Path:
    base = root / name
    for version in versions:
        (base / str(version)).mkdir(parents=True)
    return base


def config(*models: ModelConfig) -> ModelServerConfig:
    return ModelServerConfig(tuple(models))


def test_reload_returns_once_new_models_are_available(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    base = model_dir(tmp_path, "a", 1, 2)
    server_core.reload_config(config(ModelConfig("a", str(base))), timeout=10)
    with server_core.manager.get_servable_handle(ServableRequest.latest("a")) as handle:
        assert handle.id == ServableId("a", 2)
    assert server_core.readiness() == (True, {})


def test_missing_base_path_is_reported_at_once_and_others_still_load(
    core: Core, tmp_path: Path
) -> None:
    server_core, _ = core
    good = model_dir(tmp_path, "good", 1)
    with pytest.raises(Unknown) as caught:
        server_core.reload_config(
            config(ModelConfig("good", str(good)), ModelConfig("gone", str(tmp_path / "nope"))),
            timeout=10,
        )
    assert "1 model(s) did not become available" in caught.value.message
    assert "Could not find base path" in caught.value.message
    ready, details = server_core.readiness()
    assert not ready
    assert set(details) == {"gone"}
    assert server_core.manager.available_ids() == [ServableId("good", 1)]


def test_a_model_on_an_unknown_platform_ends_with_the_error_and_others_serve(
    core: Core, tmp_path: Path
) -> None:
    server_core, _ = core
    good = model_dir(tmp_path, "good", 1)
    odd = model_dir(tmp_path, "odd", 3)
    with pytest.raises(Unknown) as caught:
        server_core.reload_config(
            config(ModelConfig("good", str(good)), ModelConfig("odd", str(odd), platform="onnx")),
            timeout=10,
        )
    assert "Model odd requests unsupported platform onnx" in caught.value.message
    assert server_core.manager.available_ids() == [ServableId("good", 1)]
    state = server_core.monitor.versions("odd")[3]
    assert state.state is ManagerState.END
    assert state.error is not None
    assert state.error.message == "Model odd requests unsupported platform onnx"


def test_a_version_that_fails_to_load_names_its_error(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    base = model_dir(tmp_path, "broken", 7)
    with pytest.raises(Unknown) as caught:
        server_core.reload_config(config(ModelConfig("broken", str(base))), timeout=10)
    assert "{name: broken version: 7} due to error" in caught.value.message
    state = server_core.monitor.versions("broken")[7]
    assert state.state is ManagerState.END
    assert state.error is not None


def test_labels_are_published_after_their_versions_load(core: Core, tmp_path: Path) -> None:
    server_core, published = core
    base = model_dir(tmp_path, "m", 1, 2)
    model = ModelConfig("m", str(base), version_policy=All(), version_labels={"stable": 1})
    server_core.reload_config(config(model), timeout=10)
    assert published[-1].resolve("m", "stable") == 1


def test_a_reload_with_a_bad_label_changes_nothing(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    base = model_dir(tmp_path, "m", 1)
    other = model_dir(tmp_path, "other", 1)
    server_core.reload_config(config(ModelConfig("m", str(base))), timeout=10)
    bad = ModelConfig("m", str(base), version_labels={"canary": 9})
    with pytest.raises(FailedPrecondition):
        server_core.reload_config(config(bad, ModelConfig("other", str(other))), timeout=10)
    assert [m.name for m in server_core.config.models] == ["m"]  # type: ignore[union-attr]
    assert ServableId("other", 1) not in server_core.manager.available_ids()


def test_a_model_left_out_of_the_new_config_is_unloaded(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    a, b = model_dir(tmp_path, "a", 1), model_dir(tmp_path, "b", 1)
    server_core.reload_config(config(ModelConfig("a", str(a)), ModelConfig("b", str(b))), 10)
    server_core.reload_config(config(ModelConfig("a", str(a))), timeout=10)
    assert server_core.monitor.wait_for(
        lambda _s: ServableId("b", 1) not in server_core.manager.available_ids(), 10
    )
    with pytest.raises(ServingError):
        server_core.manager.get_servable_handle(ServableRequest.latest("b"))


def test_a_source_that_never_polls_does_not_hang_the_reload(tmp_path: Path) -> None:
    monitor = ServableStateMonitor()
    manager = AspiredVersionsManager(monitor, ManagerOptions())
    server_core = ServerCore(manager, monitor, {"tensorflow": Platform()}, poll_wait_seconds=-1)
    server_core.start()
    try:
        base = model_dir(tmp_path, "m", 1)
        with pytest.raises(Unknown):  # returns at once: m never gets a version
            server_core.reload_config(config(ModelConfig("m", str(base))), timeout=10)
        assert manager.available_ids() == []
    finally:
        server_core.stop(timeout=10)


class RecordingManager(AspiredVersionsManager):
    """Remembers each aspired list the source sent, so a test can wait for one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lists: list[tuple[str, list[int]]] = []
        self._sent = threading.Condition()

    def aspired_versions_callback(self, name: str, versions: Any) -> None:
        super().aspired_versions_callback(name, versions)
        with self._sent:
            self.lists.append((name, [v.id.version for v in versions]))
            self._sent.notify_all()

    def wait_for_list(self, name: str, versions: list[int], after: int) -> bool:
        """Wait until the source sent ``versions`` for ``name`` as list ``after`` or later."""
        with self._sent:
            return self._sent.wait_for(lambda: (name, versions) in self.lists[after:], 5)


class Ticked:
    """A ServerCore whose manager ticks only when the test says, so a test sets the exact
    interleaving of source lists and manager ticks. Reloads run in a thread."""

    def __init__(
        self, tmp_path: Path, monitor: ServableStateMonitor | None = None, **options: Any
    ) -> None:
        self.monitor = monitor or ServableStateMonitor()
        self.manager = RecordingManager(
            self.monitor, ManagerOptions(max_num_load_retries=0, load_retry_interval_s=0, **options)
        )
        self.platform = Platform()
        self.core = ServerCore(self.manager, self.monitor, {"tensorflow": self.platform}, 0)
        self.config = config(
            ModelConfig("a", str(model_dir(tmp_path, "a", 1))),
            ModelConfig("b", str(model_dir(tmp_path, "b", 1))),
        )

    def reload(self, new: ModelServerConfig, timeout: float = 5) -> concurrent.futures.Future[None]:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(self.core.reload_config, new, timeout)
        pool.shutdown(wait=False)
        return future

    def tick_until_done(self, future: concurrent.futures.Future[None]) -> None:
        """Tick (as the manage-state thread would) until the reload answers; raise its error."""
        deadline = time.monotonic() + 10
        while not future.done() and time.monotonic() < deadline:
            self.manager.manage_state_once()
            time.sleep(0.01)
        future.result(timeout=0)

    def serves(self, name: str) -> bool:
        return any(i.name == name for i in self.manager.available_ids())


def test_restoring_a_config_before_the_manager_saw_it_emptied_keeps_every_model(
    tmp_path: Path,
) -> None:
    # Issue 15: a reload to an empty list, then the reload restoring the list, with no
    # manager tick between them: the manager only ever sees the restored list (newest per
    # name), so nothing unloads. The restoring reload must answer at once and the status
    # of each model must stay; it used to wait for a START that never came, then time out
    # with the models' status forgotten ("Could not find any versions of model b").
    ticked = Ticked(tmp_path)
    ticked.tick_until_done(ticked.reload(ticked.config))
    first_b = ticked.platform.loaders[ServableId("b", 1)]
    ticked.core.reload_config(config(), timeout=5)  # no new model: answers at once
    sent = len(ticked.manager.lists)
    restored = ticked.reload(ticked.config)
    # No tick before the restored lists reach the manager: that is the interleaving here
    # (ticking at once would apply the empty lists first, the next test's case).
    assert ticked.manager.wait_for_list("b", [1], after=sent)
    ticked.tick_until_done(restored)
    for name in ("a", "b"):
        assert ticked.serves(name)
        assert ticked.monitor.versions(name)[1].state is ManagerState.AVAILABLE
    # b was never unloaded: its first loader still serves, and the restored list's
    # loader (same version) was never used.
    assert (first_b.load_calls, first_b.unload_calls) == (1, 0)
    assert ticked.platform.loaders[ServableId("b", 1)].load_calls == 0
    ticked.core.stop(timeout=5)


def test_restoring_a_model_still_unloading_waits_for_its_fresh_load(tmp_path: Path) -> None:
    # The other interleaving: the manager applied the empty list and b is unloading
    # when the restoring reload comes. Its old AVAILABLE/END must not count: the reload
    # answers only once b is loaded again.
    ticked = Ticked(tmp_path, num_unload_threads=1)
    ticked.tick_until_done(ticked.reload(ticked.config))
    old_b = ticked.platform.loaders[ServableId("b", 1)]
    old_b.unload_gate = threading.Event()
    ticked.core.reload_config(config(ModelConfig("a", ticked.config.models[0].base_path)), 5)
    ticked.manager.manage_state_once()  # applies the list without b, starts b's unload
    assert old_b.unload_started.wait(5)
    sent = len(ticked.manager.lists)
    restored = ticked.reload(ticked.config)
    try:
        # The ticks must come after the restored list reached the manager (ticking at
        # once, they usually all ran before the reload's thread polled, and the check
        # below held without a deferred list to test).
        assert ticked.manager.wait_for_list("b", [1], after=sent)
        for _ in range(20):
            ticked.manager.manage_state_once()
        assert not restored.done()
    finally:
        old_b.unload_gate.set()  # a failure must not leave the unload thread blocked
    ticked.tick_until_done(restored)
    new_b = ticked.platform.loaders[ServableId("b", 1)]
    assert new_b is not old_b and new_b.load_calls == 1
    assert ticked.monitor.versions("b")[1].state is ManagerState.AVAILABLE
    ticked.core.stop(timeout=5)


def test_restoring_a_model_whose_unload_is_ending_waits_for_its_fresh_load(
    tmp_path: Path,
) -> None:
    # b is unloaded but its END not yet published when the manager applies the restoring
    # list. Tracking b afresh then let that END land after the new load: the reload
    # answered "b: no version is available yet" and b's status stayed END while it served.
    held = EndHeld(ServableId("b", 1))
    ticked = Ticked(tmp_path, held, num_unload_threads=1)
    ticked.tick_until_done(ticked.reload(ticked.config))
    ticked.core.reload_config(config(ModelConfig("a", ticked.config.models[0].base_path)), 5)
    ticked.manager.manage_state_once()  # applies the list without b, starts b's unload
    sent = len(ticked.manager.lists)
    try:
        assert held.reached.wait(5)  # b is unloaded; its END is held
        restored = ticked.reload(ticked.config)
        assert ticked.manager.wait_for_list("b", [1], after=sent)
        ticked.manager.manage_state_once()
    finally:
        held.release.set()
    ticked.tick_until_done(restored)
    assert ticked.serves("b")
    assert ticked.monitor.versions("b")[1].state is ManagerState.AVAILABLE
    ticked.core.stop(timeout=5)


# --- model control (the data plane's ModelRepository) -----------------------------------


def test_unload_stops_serving_through_unloading_to_end(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    a, b = model_dir(tmp_path, "a", 1, 2), model_dir(tmp_path, "b", 1)
    server_core.reload_config(config(ModelConfig("a", str(a)), ModelConfig("b", str(b))), 10)
    seen: list[ManagerState] = []
    server_core.monitor.add_listener(
        lambda state: seen.append(state.state) if state.id.name == "a" else None
    )
    asyncio.run(server_core.unload("a"))
    assert seen[:1] == [ManagerState.UNLOADING] and seen[-1] is ManagerState.END
    assert {s.state for s in server_core.monitor.versions("a").values()} == {ManagerState.END}
    with pytest.raises(ServingError):
        server_core.manager.get_servable_handle(ServableRequest.latest("a"))
    assert server_core.index() == [
        RepositoryEntry("a", "2", "UNAVAILABLE", "unloaded"),
        RepositoryEntry("b", "1", "READY", ""),
    ]
    # An unloaded model makes the server not ready (a load balancer must route around
    # it); the other model still serves.
    assert server_core.readiness() == (False, {"a": "unloaded through the repository API"})
    assert server_core.manager.available_ids() == [ServableId("b", 1)]


def test_load_serves_an_unloaded_model_again_with_its_policy(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    base = model_dir(tmp_path, "m", 1, 2, 3)
    model = ModelConfig("m", str(base), version_policy=All())
    server_core.reload_config(config(model), timeout=10)
    server_core.unload_model("m", timeout=10)
    asyncio.run(server_core.load("m"))
    assert server_core.manager.available_ids() == [ServableId("m", v) for v in (1, 2, 3)]
    assert [e.state for e in server_core.index()] == ["READY"] * 3


def test_an_explicit_unload_stands_across_a_config_reload(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    a, b = model_dir(tmp_path, "a", 1), model_dir(tmp_path, "b", 1)
    both = config(ModelConfig("a", str(a)), ModelConfig("b", str(b)))
    server_core.reload_config(both, timeout=10)
    server_core.unload_model("a", timeout=10)
    server_core.reload_config(both, timeout=10)
    assert server_core.manager.available_ids() == [ServableId("b", 1)]


def test_unknown_names_are_not_found(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    server_core.reload_config(config(ModelConfig("a", str(model_dir(tmp_path, "a", 1)))), 10)
    for action in (server_core.load, server_core.unload):
        with pytest.raises(NotFound, match="Model nope is not in the model config"):
            asyncio.run(action("nope"))


def test_a_failed_load_raises_its_error(core: Core, tmp_path: Path) -> None:
    server_core, _ = core
    base = model_dir(tmp_path, "m", 1)
    server_core.reload_config(config(ModelConfig("m", str(base))), timeout=10)
    server_core.unload_model("m", timeout=10)
    (base / "1").rmdir()
    with pytest.raises(ServingError):
        server_core.load_model("m", timeout=10)
    entries = server_core.index()
    assert [(e.name, e.state) for e in entries] == [("m", "UNAVAILABLE")]
    assert entries[0].reason


def test_not_ready_until_every_configured_model_has_an_available_version(
    core: Core, tmp_path: Path
) -> None:
    server_core, _ = core
    assert server_core.readiness() == (False, {"server": "no model config loaded yet"})
    good, broken = model_dir(tmp_path, "good", 1), model_dir(tmp_path, "broken", 1)
    with pytest.raises(Unknown):
        server_core.reload_config(
            config(ModelConfig("good", str(good)), ModelConfig("broken", str(broken))), 10
        )
    ready, details = server_core.readiness()
    assert (ready, set(details)) == (False, {"broken"})
    assert not server_core.is_ready()


def test_draining_turns_readiness_off_while_the_models_still_serve(
    core: Core, tmp_path: Path
) -> None:
    server_core, _ = core
    base = model_dir(tmp_path, "a", 1)
    server_core.reload_config(config(ModelConfig("a", str(base))), timeout=10)
    assert server_core.is_ready() and not server_core.draining

    server_core.begin_drain()

    assert server_core.draining
    assert server_core.readiness() == (False, {"server": "shutting down: draining requests"})
    with server_core.manager.get_servable_handle(ServableRequest.latest("a")) as handle:
        assert handle.id == ServableId("a", 1)


def test_a_stop_ends_a_reload_still_waiting_for_a_load(tmp_path: Path) -> None:
    # A reload waits for its models; once the core stops, the manager aspires nothing
    # and the wait could never end. It held the process's exit for the reload timeout
    # (the control thread is joined at exit), so a SIGTERM during a hanging load was
    # answered with SIGKILL.
    gate = threading.Event()
    monitor = ServableStateMonitor()
    manager = AspiredVersionsManager(monitor, ManagerOptions(num_load_threads=1))
    platform = Platform()

    def hanging(servable_id: ServableId, path: str) -> Loader:
        loader = platform(servable_id, path)
        assert isinstance(loader, FakeLoader)
        loader.load_gate = gate
        return loader

    server_core = ServerCore(manager, monitor, {"tensorflow": hanging}, poll_wait_seconds=0)
    server_core.start()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        base = model_dir(tmp_path, "m", 1)
        reload = pool.submit(server_core.reload_config, config(ModelConfig("m", str(base))), 120)
        try:
            wait_until(lambda: platform.loaders.get(ServableId("m", 1)) is not None)
            assert platform.loaders[ServableId("m", 1)].load_started.wait(5)
            assert not server_core.stop(timeout=0.1)  # the load still hangs
            with pytest.raises(Unknown, match="m: the server is shutting down"):
                reload.result(timeout=5)
        finally:
            gate.set()
        assert server_core.stop(timeout=10)
