"""The Python servable Loader: isolated import, class and signature checks, load
failures, resource estimates, and unload leaving nothing behind."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.errors import Code, ServingError
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.python.servable_loader import PythonServableLoader, is_python_servable
from tensorserve.testing import FakeModels
from tests.support.python_servables import doubler, write_version

HELPER_USER = """
import tensorserve
from . import helpers

class UsesHelper(tensorserve.Servable):
    signatures = {"serving_default": tensorserve.Signature(
        inputs={"x": tensorserve.TensorSpec("float32", [-1])},
        outputs={"y": tensorserve.TensorSpec("float32", [-1])})}

    def predict(self, inputs, context):
        return {"y": inputs["x"] + helpers.OFFSET}
"""

RECORDS_UNLOAD = """
import pathlib
import tensorserve

class Recorder(tensorserve.Servable):
    signatures = {"serving_default": tensorserve.Signature(
        inputs={"x": tensorserve.TensorSpec("float32", [-1])},
        outputs={"y": tensorserve.TensorSpec("float32", [-1])})}

    def load(self, context):
        self.marker = context.path / "unloaded"

    def predict(self, inputs, context):
        return {"y": inputs["x"]}

    def unload(self):
        self.marker.write_text("yes")
"""


def _loader(path: Path, name: str = "m", version: int = 1) -> PythonServableLoader:
    return PythonServableLoader(ServableId(name, version), path, FakeModels())


def _load_error(path: Path) -> ServingError:
    loader = _loader(path)
    with pytest.raises(ServingError) as caught:
        loader.load()
    assert not [m for m in sys.modules if m.startswith(loader.package_name)]
    return caught.value


def test_the_issue_example_loads_and_doubles(tmp_path: Path) -> None:
    loader = _loader(write_version(tmp_path, 1, {"servable.py": doubler()}))
    loader.load()
    model = loader.servable()
    out = model.predict("serving_default", {"x": np.array([1.0, 2.5], np.float32)})
    np.testing.assert_array_equal(out["y"], np.array([2.0, 5.0], np.float32))
    assert model.platform == "python"
    assert list(model.signatures["serving_default"].inputs) == ["x"]
    loader.unload()


def test_unload_runs_the_servables_unload_and_forgets_its_modules(tmp_path: Path) -> None:
    path = write_version(tmp_path, 1, {"servable.py": RECORDS_UNLOAD})
    loader = _loader(path)
    loader.load()
    assert f"{loader.package_name}.servable" in sys.modules
    loader.unload()
    assert (path / "unloaded").read_text() == "yes"
    assert not [m for m in sys.modules if m.startswith(loader.package_name)]


def test_two_versions_with_same_named_helpers_see_their_own(tmp_path: Path) -> None:
    one = write_version(tmp_path, 1, {"servable.py": HELPER_USER, "helpers.py": "OFFSET = 1.0"})
    two = write_version(tmp_path, 2, {"servable.py": HELPER_USER, "helpers.py": "OFFSET = 2.0"})
    first, second = _loader(one, version=1), _loader(two, version=2)
    first.load()
    second.load()
    x = {"x": np.zeros(1, np.float32)}
    assert first.servable().predict("serving_default", x)["y"][0] == 1.0
    assert second.servable().predict("serving_default", x)["y"][0] == 2.0
    assert "helpers" not in sys.modules
    first.unload()
    assert second.servable().predict("serving_default", x)["y"][0] == 2.0
    second.unload()


def test_an_import_error_fails_the_load_with_the_path(tmp_path: Path) -> None:
    path = write_version(tmp_path, 1, {"servable.py": "import no_such_module_here\n"})
    error = _load_error(path)
    assert error.code is Code.INTERNAL
    assert str(path) in error.message
    assert "No module named 'no_such_module_here'" in error.message


def test_an_exception_in_load_fails_the_load(tmp_path: Path) -> None:
    source = doubler().replace("self.factor = 2.0", "raise RuntimeError('weights missing')")
    error = _load_error(write_version(tmp_path, 1, {"servable.py": source}))
    assert "RuntimeError: weights missing" in error.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("def predict(", "def other("), "names method 'predict', which Doubler does not define"),
        (("return {", "yield {"), "is a generator but signature 'serving_default'"),
        (("[-1])},\n", "[-1])}, streaming=True,\n"), "is streaming but Doubler.predict"),
        (('"float32", [-1])},', '"complex256", [-1])},'), "unsupported tensor dtype"),
        (("class Doubler(tensorserve.Servable)", "class Doubler"), "exactly one"),
    ],
)
def test_signatures_the_class_cannot_serve_fail_the_load(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    source = doubler().replace(*change, 1)
    assert source != doubler()
    error = _load_error(write_version(tmp_path, 1, {"servable.py": source}))
    assert expected in error.message


def test_resources_come_from_servable_json_or_the_directory_without_running_code(
    tmp_path: Path,
) -> None:
    crashes = "raise SystemExit('must not run')\n"
    declared = write_version(
        tmp_path, 1, {"servable.py": crashes, "servable.json": '{"ram_bytes": 12345}'}
    )
    assert _loader(declared).estimate_resources().ram_bytes == 12345
    sized = write_version(tmp_path, 2, {"servable.py": crashes, "weights.bin": "x" * 1000})
    assert _loader(sized).estimate_resources().ram_bytes == 1000 + len(crashes)


def test_detection_needs_servable_py_and_no_saved_model(tmp_path: Path) -> None:
    python = write_version(tmp_path, 1, {"servable.py": doubler()})
    both = write_version(tmp_path, 2, {"servable.py": doubler(), "saved_model.pb": ""})
    assert is_python_servable(python)
    assert not is_python_servable(both)
    assert not is_python_servable(tmp_path / "3")
