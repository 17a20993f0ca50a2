"""ServerCore applies model configs to the source chain and waits for them, with fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tensorserve.config.model_server_config import ModelConfig, ModelServerConfig
from tensorserve.core.aspired_versions_manager import AspiredVersionsManager, ManagerOptions
from tensorserve.core.errors import FailedPrecondition, ServingError, Unknown
from tensorserve.core.fakes import FakeLoader
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ManagerState, ServableStateMonitor
from tensorserve.dataplane.version_labels import VersionLabels
from tensorserve.server_core import ServerCore
from tensorserve.sources.servable_version_policy import All

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
