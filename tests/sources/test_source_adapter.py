"""SourceAdapter conversion and PlatformRouter routing by model platform."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tensorserve.core.errors import Code, NotFound
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.core.servable_id import ServableId
from tensorserve.core.source import ServableData
from tensorserve.sources.source_adapter import PlatformRouter, SourceAdapter


class PathLoader(Loader):
    def __init__(self, servable_id: ServableId, path: str) -> None:
        self.id = servable_id
        self.path = path

    def estimate_resources(self) -> ResourceEstimate:
        return ResourceEstimate()

    def load(self) -> None: ...

    def unload(self) -> None: ...

    def servable(self) -> Any:
        return self.path


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[ServableData[Any]]]] = []

    def __call__(self, name: str, versions: Sequence[ServableData[Any]]) -> None:
        self.calls.append((name, list(versions)))


def test_adapter_converts_data_and_passes_errors_through() -> None:
    adapter: SourceAdapter[str, int] = SourceAdapter(lambda _id, path: len(path))
    recorder = Recorder()
    adapter.set_aspired_versions_callback(recorder)
    upstream_error = NotFound("gone")
    adapter.on_aspired_versions(
        "m",
        [
            ServableData(ServableId("m", 1), "/abc"),
            ServableData(ServableId("m", 2), None, upstream_error),
        ],
    )
    [(name, versions)] = recorder.calls
    assert name == "m"
    assert versions == [
        ServableData(ServableId("m", 1), 4),
        ServableData(ServableId("m", 2), None, upstream_error),
    ]


def test_adapter_turns_a_raised_exception_into_the_versions_error() -> None:
    def explode(_id: ServableId, _path: str) -> int:
        raise RuntimeError("boom")

    adapter: SourceAdapter[str, int] = SourceAdapter(explode)
    recorder = Recorder()
    adapter.set_aspired_versions_callback(recorder)
    adapter.on_aspired_versions("m", [ServableData(ServableId("m", 1), "/p")])
    error = recorder.calls[0][1][0].error
    assert error is not None and error.code is Code.UNKNOWN and "boom" in error.message


def test_adapter_holds_lists_until_a_callback_is_set() -> None:
    adapter: SourceAdapter[str, str] = SourceAdapter(lambda _id, path: path.upper())
    adapter.on_aspired_versions("m", [ServableData(ServableId("m", 1), "/a")])
    adapter.on_aspired_versions("m", [ServableData(ServableId("m", 2), "/b")])
    recorder = Recorder()
    adapter.set_aspired_versions_callback(recorder)
    assert recorder.calls == [("m", [ServableData(ServableId("m", 2), "/B")])]


def test_router_uses_the_models_platform_factory() -> None:
    router = PlatformRouter({"tensorflow": PathLoader}, {"m": "tensorflow"})
    recorder = Recorder()
    router.set_aspired_versions_callback(recorder)
    router.on_aspired_versions("m", [ServableData(ServableId("m", 3), "/m/3")])
    [(_, [data])] = recorder.calls
    assert isinstance(data.data, PathLoader)
    assert (data.data.id, data.data.path) == (ServableId("m", 3), "/m/3")


def test_router_reports_no_platform_for_unrouted_models() -> None:
    router = PlatformRouter({"tensorflow": PathLoader})
    recorder = Recorder()
    router.set_aspired_versions_callback(recorder)
    router.on_aspired_versions("m", [ServableData(ServableId("m", 1), "/m/1")])
    router.on_aspired_versions("m", [])
    [(_, [data]), (_, empty)] = recorder.calls
    assert data.data is None and data.error is not None
    assert data.error.code is Code.INTERNAL
    assert data.error.message == "No platform found for model"
    assert empty == []


def test_router_routes_follow_updates() -> None:
    router = PlatformRouter({"tensorflow": PathLoader}, {"m": "pytorch"})
    recorder = Recorder()
    router.set_aspired_versions_callback(recorder)
    router.update_routes({"m": "tensorflow"})
    router.on_aspired_versions("m", [ServableData(ServableId("m", 1), "/m/1")])
    assert recorder.calls[0][1][0].ok
    assert router.routes() == {"m": "tensorflow"}
    assert router.platforms == frozenset({"tensorflow"})


def test_router_ends_only_the_versions_of_a_model_on_an_unknown_platform() -> None:
    router = PlatformRouter({"tensorflow": PathLoader}, {"bad": "pytorch", "good": "tensorflow"})
    recorder = Recorder()
    router.set_aspired_versions_callback(recorder)
    router.on_aspired_versions("bad", [ServableData(ServableId("bad", 1), "/bad/1")])
    router.on_aspired_versions("good", [ServableData(ServableId("good", 1), "/good/1")])
    [(_, [bad]), (_, [good])] = recorder.calls
    assert bad.error is not None and bad.error.code is Code.INVALID_ARGUMENT
    assert bad.error.message == "Model bad requests unsupported platform pytorch"
    assert good.ok
