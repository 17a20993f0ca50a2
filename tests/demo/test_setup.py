"""``prepare_demo`` end to end: one real training run shared by the whole session."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tensorserve.demo.cli import add_parser
from tensorserve.demo.setup import DemoPaths, prepare_demo
from tensorserve.demo.training import MnistSplit, evaluate

MIN_ACCURACY = 0.95


@pytest.fixture(scope="session")
def demo_paths(trained_demo: DemoPaths) -> DemoPaths:
    """Train, export and write samples once per session (shared with other tests)."""
    return trained_demo


def test_layout_is_under_the_root(tmp_path: Path) -> None:
    paths = DemoPaths.under(tmp_path)
    assert paths.keras_model == tmp_path / "model_dir" / "mnist.keras"
    assert paths.labels == tmp_path / "model_dir" / "labels.txt"
    assert paths.export_dir == tmp_path / "serving_model" / "mnist" / "1"
    assert paths.samples_dir == tmp_path / "predict_images" / "samples"


@pytest.mark.slow
def test_trained_model_reaches_the_accuracy_floor_on_held_out_digits(
    demo_paths: DemoPaths, mnist_split: MnistSplit
) -> None:
    import keras

    model = keras.models.load_model(demo_paths.keras_model, compile=False)
    accuracy = evaluate(model, mnist_split.test_images, mnist_split.test_labels)
    assert accuracy >= MIN_ACCURACY


@pytest.mark.slow
def test_labels_are_the_ten_digits(demo_paths: DemoPaths) -> None:
    assert demo_paths.labels.read_text().split() == [str(d) for d in range(10)]


@pytest.mark.slow
def test_export_has_image_raw_and_classify_signatures_and_warmup(demo_paths: DemoPaths) -> None:
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((demo_paths.export_dir / "saved_model.pb").read_bytes())
    signatures = saved_model.meta_graphs[0].signature_def
    assert {"serving_default", "predict_tensor", "classify"} <= set(signatures)
    assert list(signatures["serving_default"].inputs) == ["image_bytes"]
    assert signatures["classify"].method_name == "tensorflow/serving/classify"
    warmup = demo_paths.export_dir / "assets.extra" / "tf_serving_warmup_requests"
    assert sum(1 for _ in tf.data.TFRecordDataset(str(warmup))) == 5


@pytest.mark.slow
def test_sample_pngs_are_classified_by_the_export(demo_paths: DemoPaths) -> None:
    samples = demo_paths.sample_images()
    assert [path.name for path in samples] == [f"{d}.png" for d in range(10)]
    loaded = tf.saved_model.load(str(demo_paths.export_dir))
    outputs = loaded.signatures["serving_default"](
        image_bytes=tf.constant([path.read_bytes() for path in samples])
    )
    predicted = np.argmax(outputs["scores"].numpy(), axis=1)
    assert np.sum(predicted == np.arange(10)) >= 9
    assert outputs["classes"].numpy()[0].tolist() == [str(d).encode() for d in range(10)]


@pytest.mark.slow
def test_second_run_reuses_everything(demo_paths: DemoPaths) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in (demo_paths.keras_model, demo_paths.export_dir)}
    assert prepare_demo(demo_paths.root, progress=False) == demo_paths
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


@pytest.mark.slow
def test_demo_command_with_no_serve_prints_the_export(
    demo_paths: DemoPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="tensorserve")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["demo", "--root", str(demo_paths.root), "--no-serve"])
    assert args.func(args) == 0
    assert capsys.readouterr().out == f"{demo_paths.export_dir}\n"
