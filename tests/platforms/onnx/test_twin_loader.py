"""``--prefer_onnx_model`` at the loader: exported twins serve their signatures,
a twin that disagrees with TensorFlow at load falls back, strings stay in TensorFlow."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.onnx.options import OnnxOptions
from tensorserve.platforms.onnx.twin_loader import TwinLoader
from tensorserve.platforms.onnx.twin_manifest import read_manifest
from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader
from tests.export.conftest import build_image_model, build_multi_io_model, export_keras_model
from tests.support.onnx_twins import add_to_output

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("twins") / "serving_model"
    multi = export_keras_model(build_multi_io_model(), base, "multi", tolerance=TOLERANCE)
    image = export_keras_model(
        build_image_model(), base, "image", labels=("a", "b", "c"), image_input=True
    )
    return {"multi": multi.path, "image": image.path}


def _load(path: Path) -> TwinLoader:
    loader = TwinLoader(SavedModelLoader(ServableId("m", 1), path), path, require_faster=False)
    loader.load()
    return loader


def test_export_records_twins_and_tensorflow_only_signatures(exports: dict[str, Path]) -> None:
    multi = read_manifest(exports["multi"])
    assert multi["serving_default"].verified
    assert multi["serving_default"].max_abs_difference <= TOLERANCE
    image = read_manifest(exports["image"])
    assert image["predict_tensor"].verified
    assert not image["serving_default"].verified  # image bytes
    assert "strings" in image["serving_default"].reason
    assert not image["classify"].verified


def test_verified_twins_serve_their_signatures(exports: dict[str, Path]) -> None:
    loader = _load(exports["multi"])
    try:
        model = loader.servable()
        assert model.runtimes["serving_default"] == "onnxruntime"
        assert model.platform == "tensorflow+onnx"
        assert model.max_concurrent_calls("") == OnnxOptions().calls_at_once()
        inputs = {
            "a": np.array([[1, 2, 3]], np.float32),
            "b": np.array([[[1, 0], [0, 1]]], np.float32),
        }
        twin = model.predict("", inputs)
        plain = SavedModelLoader(ServableId("m", 1), exports["multi"])
        plain.load()
        tensorflow = plain.servable().predict("", inputs)
        plain.unload()
        for name in ("total", "logits"):
            np.testing.assert_allclose(twin[name], tensorflow[name], atol=TOLERANCE)
    finally:
        loader.unload()


def test_strings_and_classify_stay_in_tensorflow(exports: dict[str, Path]) -> None:
    loader = _load(exports["image"])
    try:
        model = loader.servable()
        assert model.runtimes["predict_tensor"] == "onnxruntime"
        assert model.runtimes["serving_default"] == "tensorflow"
        assert model.runtimes["classify"] == "tensorflow"
        assert model.max_concurrent_calls("predict_tensor") == OnnxOptions().calls_at_once()
        assert model.max_concurrent_calls("serving_default") is None  # TensorFlow's own
        # ONNX Runtime only computes, so its quick calls may run on the event loop;
        # TensorFlow's image decoding signature stays on the workers.
        assert model.compute_only("predict_tensor")
        assert not model.compute_only("serving_default")
        pixels = np.random.default_rng(1).random((2, 8, 8, 1)).astype(np.float32)
        out = model.predict("predict_tensor", {"pixels": pixels})
        assert out["classes"].dtype == object and out["probabilities"].shape == (2, 3)
    finally:
        loader.unload()


def test_a_wrong_twin_is_caught_at_load_and_tensorflow_serves(
    exports: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tmp_path / "1"
    shutil.copytree(exports["multi"], wrong)
    add_to_output(wrong / "assets.extra" / "onnx" / "serving_default.onnx", "total", 0.5)
    assert json.loads((wrong / "assets.extra/onnx/twins.json").read_text())  # still "verified"
    with caplog.at_level(logging.WARNING):
        loader = _load(wrong)
    try:
        assert loader.servable().runtimes["serving_default"] == "tensorflow"
        assert "differs from TensorFlow by 0.5" in caplog.text
    finally:
        loader.unload()


def test_a_request_only_tensorflow_accepts_is_answered_by_tensorflow(tmp_path: Path) -> None:
    """TF Serving's half_plus_two answers ``x`` of shape [2] though its signature says
    [-1, 1]; ONNX Runtime refuses that rank, so the twin hands the request to TensorFlow."""
    from tensorserve.core import errors
    from tensorserve.export.onnx_twins import write_twins
    from tests.support.paths import tfserving_model

    version = tmp_path / "123"
    shutil.copytree(tfserving_model("saved_model_half_plus_two_cpu") / "00000123", version)
    version.chmod(0o755)
    assert write_twins(version, 1e-6)["serving_default"].verified
    loader = _load(version)
    try:
        model = loader.servable()
        assert model.runtimes["serving_default"] == "onnxruntime"
        out = model.predict("", {"x": np.array([1.0, 2.0], np.float32)})
        np.testing.assert_allclose(out["y"], [2.5, 3.0])
        with pytest.raises(errors.InvalidArgument, match="Signature input alias: x"):
            model.predict("", {"z": np.array([1.0], np.float32)})
    finally:
        loader.unload()
