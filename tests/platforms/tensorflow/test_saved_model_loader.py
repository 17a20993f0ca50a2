"""Tests of SavedModelLoader against TensorFlow Serving's own test models."""

from __future__ import annotations

import gc
import shutil
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.errors import Code, FailedPrecondition, ServingError
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.tensorflow.options import TensorFlowOptions
from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader, disk_size
from tensorserve.platforms.tensorflow.tensorflow_model import TensorFlowModel
from tensorserve.servables.model import Model
from tests.support import saved_models
from tests.support.paths import tfserving_model

LoadModel = Callable[..., TensorFlowModel]
X = np.array([1.0, 2.0, 5.0], dtype=np.float32)


def version_dir(model: str, version: str = "00000123") -> Path:
    return tfserving_model(model) / version


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("saved_model_half_plus_two_cpu", [2.5, 3.0, 4.5]),
        ("saved_model_half_plus_three", [3.5, 4.0, 5.5]),
        ("saved_model_half_plus_two_tf2_cpu", [2.5, 3.0, 4.5]),
    ],
)
def test_testdata_models_predict_like_tensorflow_serving(
    load_model: LoadModel, model: str, expected: list[float]
) -> None:
    loaded = load_model(version_dir(model))
    assert isinstance(loaded, Model)
    outputs = loaded.predict("", {"x": X})
    np.testing.assert_allclose(outputs["y"].reshape(-1), expected)


def test_both_versions_of_the_two_versions_model_load_and_serve(load_model: LoadModel) -> None:
    for version in ("00000123", "00000124"):
        loaded = load_model(version_dir("saved_model_half_plus_two_2_versions", version))
        np.testing.assert_allclose(
            loaded.predict("serving_default", {"x": X})["y"].reshape(-1), [2.5, 3.0, 4.5]
        )


def test_matrix_model_with_only_saved_model_pb_loads(load_model: LoadModel) -> None:
    loaded = load_model(tfserving_model("matrix_half_plus_two") / "1")
    outputs = loaded.predict("", {"x": np.ones((1, 3, 3), dtype=np.float32)})
    np.testing.assert_allclose(outputs["y"], np.full((1, 3, 3), 2.5))


def test_counter_model_keeps_state_across_calls(load_model: LoadModel) -> None:
    loaded = load_model(version_dir("saved_model_counter"))
    assert loaded.predict("reset_counter", {})["output"] == 0
    assert [float(loaded.predict("incr_counter", {})["output"]) for _ in range(3)] == [1, 2, 3]
    delta = np.array(10.0, dtype=np.float32)
    assert loaded.predict("incr_counter_by", {"delta": delta})["output"] == 13
    assert loaded.predict("get_counter", {})["output"] == 13


def test_half_plus_two_classify_and_regress_signatures(load_model: LoadModel) -> None:
    loaded = load_model(version_dir("saved_model_half_plus_two_cpu"))
    examples = [saved_models.example(x=1.0), saved_models.example(x=4.0)]
    result = loaded.classify("classify_x_to_y", examples)
    assert result.classes is None
    assert result.scores is not None
    np.testing.assert_allclose(result.scores, [[2.5], [4.0]])
    np.testing.assert_allclose(loaded.regress("regress_x_to_y", examples), [2.5, 4.0])
    np.testing.assert_allclose(loaded.regress("regress_x_to_y2", examples), [3.5, 5.0])


def test_tf2_model_classifies_with_predict_method_signatures(load_model: LoadModel) -> None:
    loaded = load_model(version_dir("saved_model_half_plus_two_tf2_cpu"))
    examples = [saved_models.example(x=[2.0])]
    scores = loaded.classify("classify_x_to_y", examples).scores
    assert scores is not None
    np.testing.assert_allclose(scores, [[3.0]])
    np.testing.assert_allclose(loaded.regress("regress_x_to_y", examples), [3.0])


def test_bad_model_fails_to_load_with_error_naming_the_path() -> None:
    path = version_dir("bad_half_plus_two")
    loader = SavedModelLoader(ServableId("bad", 123), path)
    with pytest.raises(ServingError) as caught:
        loader.load()
    assert caught.value.code is Code.NOT_FOUND
    assert str(path) in caught.value.message
    assert "Could not find SavedModel .pb or .pbtxt" in caught.value.message
    with pytest.raises(FailedPrecondition):
        loader.servable()


@pytest.mark.parametrize("file_name", ["saved_model.pb", "saved_model.pbtxt"])
def test_a_saved_model_file_holding_garbage_is_data_loss_naming_the_file(
    tmp_path: Path, file_name: str
) -> None:
    kind = "binary" if file_name.endswith(".pb") else "text"
    (tmp_path / file_name).write_bytes(b"\xff\xfe not a SavedModel {{{")
    with pytest.raises(ServingError) as caught:
        SavedModelLoader(ServableId("m", 1), tmp_path).load()
    assert caught.value.code is Code.DATA_LOSS
    assert caught.value.message == f"Can't parse {tmp_path / file_name} as {kind} proto"


def test_a_saved_model_pb_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").mkdir()  # there, but not a readable file
    with pytest.raises(ServingError) as caught:
        SavedModelLoader(ServableId("m", 1), tmp_path).load()
    assert caught.value.code is Code.DATA_LOSS
    assert caught.value.message.startswith(f"Could not read {tmp_path / 'saved_model.pb'}: ")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("random bytes", "Checksum does not match"),
        ("truncated", "Read less bytes than requested"),
    ],
)
def test_a_corrupt_variables_file_fails_the_load_with_tensorflows_reason(
    built_models: dict[str, Path], tmp_path: Path, damage: str, expected: str
) -> None:
    version = tmp_path / "1"
    shutil.copytree(built_models["half_plus_two"], version)
    data = version / "variables" / "variables.data-00000-of-00001"
    size = data.stat().st_size
    data.write_bytes(bytes(range(256))[:size] if damage == "random bytes" else b"")
    loader = SavedModelLoader(ServableId("m", 1), version)
    with pytest.raises(ServingError) as caught:
        loader.load()
    assert caught.value.message.startswith(f"Failed to load SavedModel at {version}: ")
    assert expected in caught.value.message
    with pytest.raises(FailedPrecondition):
        loader.servable()


def test_unknown_tags_fail_to_load_with_not_found(built_models: dict[str, Path]) -> None:
    options = TensorFlowOptions(saved_model_tags=frozenset({"gpu"}))
    loader = SavedModelLoader(ServableId("m", 1), built_models["half_plus_two"], options)
    with pytest.raises(ServingError) as caught:
        loader.load()
    assert caught.value.code is Code.NOT_FOUND
    assert "Could not find meta graph def matching supplied tags: { gpu }" in str(caught.value)


def test_estimate_is_file_sizes_times_one_point_two(built_models: dict[str, Path]) -> None:
    path = built_models["half_plus_two"]
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    loader = SavedModelLoader(ServableId("m", 1), path)
    assert disk_size(path) == total
    assert loader.estimate_resources().ram_bytes == int(total * 1.2)
    assert loader.estimate_resources().transient_ram_bytes == 0


def test_estimate_of_missing_directory_is_not_found(tmp_path: Path) -> None:
    loader = SavedModelLoader(ServableId("m", 1), tmp_path / "absent")
    with pytest.raises(ServingError) as caught:
        loader.estimate_resources()
    assert caught.value.code is Code.NOT_FOUND


def test_unload_frees_the_graph(built_models: dict[str, Path]) -> None:
    loader = SavedModelLoader(ServableId("m", 1), built_models["half_plus_two"])
    loader.load()
    model = loader.servable()
    model.predict("", {"x": X})
    session = weakref.ref(model._runner._session)  # owns the graph: both go together
    del model
    loader.unload()
    gc.collect()
    assert session() is None
    with pytest.raises(FailedPrecondition):
        loader.servable()


def test_model_refuses_calls_after_unload(built_models: dict[str, Path]) -> None:
    loader = SavedModelLoader(ServableId("m", 1), built_models["half_plus_two"])
    loader.load()
    model = loader.servable()
    loader.unload()
    with pytest.raises(ServingError) as caught:
        model.predict("", {"x": X})
    assert caught.value.code is Code.UNAVAILABLE


def test_session_parallelism_options_are_applied(built_models: dict[str, Path]) -> None:
    options = TensorFlowOptions(intra_op_parallelism=1, inter_op_parallelism=1)
    loader = SavedModelLoader(ServableId("m", 1), built_models["half_plus_two"], options)
    loader.load()
    try:
        config = loader.servable()._runner._session.config
        assert config.intra_op_parallelism_threads == 1
        assert config.inter_op_parallelism_threads == 1
        np.testing.assert_allclose(loader.servable().predict("", {"x": X})["y"], [2.5, 3, 4.5])
    finally:
        loader.unload()


def test_ops_run_on_the_calling_thread_by_default(built_models: dict[str, Path]) -> None:
    loader = SavedModelLoader(
        ServableId("m", 1), built_models["half_plus_two"], TensorFlowOptions()
    )
    loader.load()
    try:
        config = loader.servable()._runner._session.config
        assert config.inter_op_parallelism_threads < 0  # TensorFlow's "caller's thread"
        np.testing.assert_allclose(loader.servable().predict("", {"x": X})["y"], [2.5, 3, 4.5])
    finally:
        loader.unload()
