"""End-to-end exports of small Keras models, reloaded and compared with Keras."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.protobuf import saved_model_pb2

from tensorserve.export.errors import ExportError
from tensorserve.export.exporter import ExportOptions, export_model
from tests.export.conftest import (
    build_custom_layer_model,
    build_dict_io_model,
    build_image_model,
    build_multi_io_model,
    export_keras_model,
)
from tests.export.custom_layers import CUSTOM_OBJECT_SPEC
from tests.support.paths import tfserving_model

TOLERANCE = 1e-5
LABELS = ("cat", "dog", "bird")


def signature_methods(version_dir: Path) -> dict[str, str]:
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    return {k: v.method_name for k, v in saved_model.meta_graphs[0].signature_def.items()}


def call(version_dir: Path, signature: str, **inputs: Any) -> dict[str, np.ndarray]:
    loaded = tf.saved_model.load(str(version_dir))
    outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {key: value.numpy() for key, value in outputs.items()}


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_custom_layer_model_exports_and_matches_keras(base_dir: Path) -> None:
    model = build_custom_layer_model()
    result = export_keras_model(
        model, base_dir, "custom", custom_objects=(CUSTOM_OBJECT_SPEC,), tolerance=TOLERANCE
    )
    assert result.path == base_dir / "custom" / "1"
    assert result.max_abs_difference <= TOLERANCE
    features = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    outputs = call(result.path, "serving_default", features=features)
    assert set(outputs) == {"probabilities"}
    np.testing.assert_allclose(
        outputs["probabilities"], model.predict(features, verbose=0), atol=TOLERANCE
    )


def test_multi_input_output_model_keeps_keras_names(base_dir: Path) -> None:
    model = build_multi_io_model()
    result = export_keras_model(model, base_dir, "multi", tolerance=TOLERANCE)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 3)).astype(np.float32)
    b = rng.standard_normal((3, 2, 2)).astype(np.float32)
    outputs = call(result.path, "serving_default", a=a, b=b)
    total, logits = model.predict([a, b], verbose=0)
    assert set(outputs) == {"total", "logits"}
    np.testing.assert_allclose(outputs["total"], total, atol=TOLERANCE)
    np.testing.assert_allclose(outputs["logits"], logits, atol=TOLERANCE)
    assert signature_methods(result.path)["serving_default"] == "tensorflow/serving/predict"


def test_dict_input_output_model_uses_the_dict_keys(base_dir: Path) -> None:
    model = build_dict_io_model()
    result = export_keras_model(model, base_dir, "dict", tolerance=TOLERANCE)
    left = np.array([[1.0, 2.0]], np.float32)
    right = np.array([[3.0, 4.0]], np.float32)
    outputs = call(result.path, "serving_default", left=left, right=right)
    assert set(outputs) == {"doubled", "summed"}
    np.testing.assert_allclose(outputs["doubled"], [[2.0, 4.0, 6.0, 8.0]])


@pytest.fixture(scope="module")
def image_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """An RGB image model exported with --image-input, --labels and warmup."""
    model = build_image_model(channels=3, classes=len(LABELS))
    base = tmp_path_factory.mktemp("image") / "serving_model"
    result = export_keras_model(
        model,
        base,
        "pictures",
        labels=LABELS,
        image_input=True,
        warmup_samples=3,
        tolerance=TOLERANCE,
    )
    return model, result.path


def test_image_signature_decodes_png_like_keras_on_scaled_pixels(
    image_export: tuple[Any, Path],
) -> None:
    model, version_dir = image_export
    pixels = np.random.default_rng(2).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    outputs = call(version_dir, "serving_default", image_bytes=[png_bytes(p) for p in pixels])
    expected = model.predict(pixels.astype(np.float32) / 255, verbose=0)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=TOLERANCE)
    np.testing.assert_allclose(outputs["scores"], expected, atol=TOLERANCE)
    assert outputs["classes"].tolist() == [[label.encode() for label in LABELS]] * 2


def test_image_signature_resizes_jpeg_of_another_size(image_export: tuple[Any, Path]) -> None:
    _model, version_dir = image_export
    buffer = io.BytesIO()
    Image.new("RGB", (20, 12), (200, 10, 10)).save(buffer, "JPEG")
    outputs = call(version_dir, "serving_default", image_bytes=[buffer.getvalue()])
    assert outputs["probabilities"].shape == (1, len(LABELS))


def test_raw_tensor_signature_is_kept_as_predict_tensor(image_export: tuple[Any, Path]) -> None:
    model, version_dir = image_export
    pixels = np.random.default_rng(3).random((2, 8, 8, 3)).astype(np.float32)
    outputs = call(version_dir, "predict_tensor", pixels=pixels)
    np.testing.assert_allclose(
        outputs["probabilities"], model.predict(pixels, verbose=0), atol=TOLERANCE
    )


def test_classify_signature_parses_examples_and_returns_labels(
    image_export: tuple[Any, Path],
) -> None:
    model, version_dir = image_export
    pixels = np.random.default_rng(4).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    examples = []
    for feature_name, image in zip(("image/encoded", "image_bytes"), pixels, strict=True):
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[png_bytes(image)]))
        example = tf.train.Example(features=tf.train.Features(feature={feature_name: feature}))
        examples.append(example.SerializeToString())
    outputs = call(version_dir, "classify", inputs=examples)
    assert set(outputs) == {"classes", "scores"}
    assert outputs["classes"].tolist() == [[label.encode() for label in LABELS]] * 2
    expected = model.predict(pixels.astype(np.float32) / 255, verbose=0)
    np.testing.assert_allclose(outputs["scores"], expected, atol=TOLERANCE)
    assert signature_methods(version_dir)["classify"] == "tensorflow/serving/classify"


def test_grayscale_model_without_labels_has_no_classify(base_dir: Path) -> None:
    model = build_image_model(channels=1)
    result = export_keras_model(model, base_dir, "gray", image_input=True, tolerance=TOLERANCE)
    assert set(signature_methods(result.path)) == {
        "serving_default",
        "predict_tensor",
        "__saved_model_init_op",
    }
    rgb = np.full((8, 8, 3), 120, np.uint8)
    outputs = call(result.path, "serving_default", image_bytes=[png_bytes(rgb)])
    gray = np.full((1, 8, 8, 1), 120 / 255, np.float32)
    np.testing.assert_allclose(
        outputs["probabilities"], model.predict(gray, verbose=0), atol=TOLERANCE
    )


def test_labels_on_tensor_model_classify_float_list_features(base_dir: Path) -> None:
    model = build_custom_layer_model()
    result = export_keras_model(
        model, base_dir, "tabular", labels=LABELS, custom_objects=(CUSTOM_OBJECT_SPEC,)
    )
    row = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    feature = tf.train.Feature(float_list=tf.train.FloatList(value=row))
    example = tf.train.Example(features=tf.train.Features(feature={"features": feature}))
    outputs = call(result.path, "classify", inputs=[example.SerializeToString()])
    np.testing.assert_allclose(
        outputs["scores"], model.predict(row[None], verbose=0), atol=TOLERANCE
    )


def test_versions_count_up_and_existing_version_is_refused(base_dir: Path) -> None:
    model = build_multi_io_model()
    first = export_keras_model(model, base_dir, "multi")
    second = export_keras_model(model, base_dir, "multi")
    assert (first.version, second.version) == (1, 2)
    with pytest.raises(ExportError, match=r"already exists; pass --overwrite"):
        export_keras_model(model, base_dir, "multi", version=2)
    replaced = export_keras_model(model, base_dir, "multi", version=2, overwrite=True)
    assert replaced.path == second.path
    assert sorted(os.listdir(base_dir / "multi")) == ["1", "2"]


def test_version_appears_only_when_complete(base_dir: Path) -> None:
    """A poller never sees a numeric directory without saved_model.pb and variables."""
    model = build_multi_io_model()
    model_dir = base_dir / "multi"
    incomplete: list[str] = []
    seen_versions: set[str] = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            entries = os.listdir(model_dir) if model_dir.is_dir() else []
            for entry in filter(str.isdigit, entries):
                seen_versions.add(entry)
                version_dir = model_dir / entry
                if not (
                    (version_dir / "saved_model.pb").is_file()
                    and (version_dir / "variables" / "variables.index").is_file()
                ):
                    incomplete.append(entry)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        export_keras_model(model, base_dir, "multi", warmup_samples=2)
    finally:
        done.set()
        poller.join(timeout=30)
    assert incomplete == []
    assert os.listdir(model_dir) == ["1"]


def test_failed_verification_leaves_nothing_behind(base_dir: Path) -> None:
    model = build_multi_io_model()
    with pytest.raises(ExportError, match=r"more than the tolerance"):
        export_keras_model(model, base_dir, "multi", tolerance=-1.0)
    assert not (base_dir / "multi").exists()


def test_tf2_saved_model_source_is_reexported(base_dir: Path) -> None:
    source = tfserving_model("saved_model_half_plus_two_tf2_cpu") / "00000123"
    result = export_model(ExportOptions(model_path=source, name="hp2", base_dir=base_dir))
    outputs = call(result.path, "serving_default", x=np.array([1.0, 4.0], np.float32))
    np.testing.assert_allclose(outputs["y"], [2.5, 4.0])


def test_tf1_saved_model_source_is_refused_with_a_reason(base_dir: Path) -> None:
    source = tfserving_model("saved_model_half_plus_two_cpu") / "00000123"
    with pytest.raises(ExportError, match=r"TF1 SavedModel"):
        export_model(ExportOptions(model_path=source, name="hp2", base_dir=base_dir))
    assert not base_dir.exists()


def _dropout_model() -> Any:
    """Dense -> Dropout(0.5) -> BatchNormalization -> Dense: training mode differs."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.5)(hidden)
    hidden = keras.layers.BatchNormalization()(hidden)
    outputs = keras.layers.Dense(2, name="y")(hidden)
    return keras.Model(inputs, outputs)


def test_the_export_runs_the_model_in_inference_mode(base_dir: Path) -> None:
    model = _dropout_model()
    features = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    training = np.asarray(model(features, training=True))  # moves BatchNorm's statistics
    inference = np.asarray(model(features, training=False))
    assert np.abs(training - inference).max() > 0.1  # the model really differs

    result = export_keras_model(model, base_dir, "dropout", tolerance=TOLERANCE)

    for _ in range(3):  # dropout would change the answer every call
        served = call(result.path, "serving_default", x=features)["y"]
        np.testing.assert_allclose(served, inference, atol=TOLERANCE)


def test_serving_only_is_the_default_and_writes_no_training_files(base_dir: Path) -> None:
    result = export_keras_model(_dropout_model(), base_dir, "plain", onnx_twins=False)
    assert not (result.path / "training").exists()


def test_no_serving_only_keeps_the_keras_file_with_its_optimizer_state(base_dir: Path) -> None:
    import keras

    model = _dropout_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(1)
    model.fit(
        rng.standard_normal((32, 6)).astype(np.float32),
        rng.standard_normal((32, 2)).astype(np.float32),
        batch_size=16,
        epochs=1,
        verbose=0,
    )
    result = export_keras_model(
        model, base_dir, "resumable", serving_only=False, onnx_twins=False, tolerance=TOLERANCE
    )

    kept = result.path / "training" / "resumable.keras"
    source = base_dir.parent / f"{base_dir.name}-sources" / "resumable.keras"
    assert kept.read_bytes() == source.read_bytes()
    resumed = keras.models.load_model(kept)
    assert int(resumed.optimizer.iterations.numpy()) == 2  # two batches were trained
    features = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(
        call(result.path, "serving_default", x=features)["y"],
        np.asarray(model(features, training=False)),
        atol=TOLERANCE,
    )


def test_no_serving_only_refuses_a_saved_model_source(base_dir: Path) -> None:
    source = tfserving_model("saved_model_half_plus_two_tf2_cpu") / "00000123"
    options = ExportOptions(model_path=source, name="hp2", base_dir=base_dir, serving_only=False)
    with pytest.raises(ExportError, match=r"--no-serving-only keeps a Keras model"):
        export_model(options)
    assert not base_dir.exists()
