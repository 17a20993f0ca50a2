"""context.models: in-process calls between served models, holding each version
only for the call, refusing cycles, honouring the caller's deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.errors import Code, ServingError
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.platforms.python.model_caller import Models
from tensorserve.platforms.python.servable_loader import PythonServableLoader
from tests.support.fake_manager import FakeManager
from tests.support.python_servables import doubler, write_version

CALLER = """
import numpy as np
import tensorserve

F = tensorserve.TensorSpec("float32", [-1])

class Caller(tensorserve.Servable):
    signatures = {
        "serving_default": tensorserve.Signature(inputs={"x": F}, outputs={"y": F}),
        "stream": tensorserve.Signature(
            inputs={"x": F}, outputs={"y": F}, method="relay", streaming=True
        ),
    }

    def predict(self, inputs, context):
        return context.models.predict(TARGET, {"x": inputs["x"]}, signature_name=SIGNATURE)

    def relay(self, inputs, context):
        for chunk in context.models.stream(TARGET, {"x": inputs["x"]}, signature_name="stream"):
            yield chunk
"""


def _resolve(spec: ModelSpec) -> ServableRequest:
    if spec.version is not None:
        return ServableRequest.specific(spec.name, spec.version)
    return ServableRequest.latest(spec.name)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeManager, Models, list[PythonServableLoader]]]:
    manager = FakeManager()
    models = Models(manager, _resolve)
    loaders: list[PythonServableLoader] = []
    yield manager, models, loaders
    for loader in loaders:
        loader.unload()


def _serve(
    served: tuple[FakeManager, Models, list[PythonServableLoader]],
    root: Path,
    name: str,
    source: str,
    version: int = 1,
) -> None:
    manager, models, loaders = served
    path = write_version(root / name, version, {"servable.py": source})
    loader = PythonServableLoader(ServableId(name, version), path, models)
    loader.load()
    loaders.append(loader)
    manager.add(name, version, loader.servable())


def _caller(target: str, signature: str = "serving_default") -> str:
    return CALLER.replace("TARGET", repr(target)).replace("SIGNATURE", repr(signature))


def test_a_servable_calls_another_and_releases_it(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manager, models, _ = served
    _serve(served, tmp_path, "doubler", doubler())
    _serve(served, tmp_path, "caller", _caller("doubler"))
    out = models.predict("caller", {"x": np.array([1.5], np.float32)})
    assert out["y"].tolist() == [3.0]
    assert manager.open_handles == 0


def test_calls_follow_latest_and_pin_versions(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, models, _ = served
    _serve(served, tmp_path, "doubler", doubler(2.0), version=1)
    _serve(served, tmp_path, "doubler", doubler(10.0), version=2)
    x = {"x": np.array([1.0], np.float32)}
    assert models.predict("doubler", x)["y"].tolist() == [10.0]
    assert models.predict("doubler", x, version=1)["y"].tolist() == [2.0]


def test_a_cycle_is_refused_with_a_clear_error(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manager, models, _ = served
    _serve(served, tmp_path, "a", _caller("b"))
    _serve(served, tmp_path, "b", _caller("a"))
    with pytest.raises(ServingError) as caught:
        models.predict("a", {"x": np.array([1.0], np.float32)})
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "Cycle in model composition: a -> b -> a" in caught.value.message
    assert manager.open_handles == 0


def test_an_unknown_dependency_is_not_found(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, models, _ = served
    _serve(served, tmp_path, "caller", _caller("missing"))
    with pytest.raises(ServingError) as caught:
        models.predict("caller", {"x": np.array([1.0], np.float32)})
    assert caught.value.code is Code.NOT_FOUND


def test_a_nested_call_gets_only_the_time_left(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, models, _ = served
    # The caller spends its whole deadline before calling on; a nested call given more than
    # the time left would run the sleeper's 5 s, far beyond what a loaded machine adds.
    sleeper = doubler().replace("return {", "import time; time.sleep(5); return {")
    _serve(served, tmp_path, "sleeper", sleeper)
    _serve(
        served,
        tmp_path,
        "caller",
        _caller("sleeper").replace(
            "context.models.predict(", "__import__('time').sleep(0.3) or context.models.predict("
        ),
    )
    started = time.monotonic()
    with pytest.raises(ServingError) as caught:
        models.predict("caller", {"x": np.array([1.0], np.float32)}, timeout_s=0.2)
    assert caught.value.code is Code.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3


def test_a_stream_holds_its_version_until_closed(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manager, models, _ = served
    counter = """
import numpy as np
import tensorserve
F = tensorserve.TensorSpec("float32", [-1])
class Counter(tensorserve.Servable):
    signatures = {
        "stream": tensorserve.Signature(inputs={"x": F}, outputs={"y": F}, streaming=True)
    }
    def predict(self, inputs, context):
        for i in range(3):
            yield {"y": inputs["x"] + i}
"""
    _serve(served, tmp_path, "counter", counter)
    _serve(served, tmp_path, "relay", _caller("counter"))
    chunks = models.stream("relay", {"x": np.array([1.0], np.float32)}, signature_name="stream")
    assert next(chunks)["y"].tolist() == [1.0]
    assert manager.open_handles == 2
    assert [c["y"].tolist() for c in chunks] == [[2.0], [3.0]]
    assert manager.open_handles == 0
