"""Tests of the SavedModel builders in tests/support/saved_models.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tensorserve.platforms.tensorflow.tensorflow_model import TensorFlowModel
from tests.support import saved_models


def test_builders_write_loadable_version_directories(built_models: dict[str, Path]) -> None:
    for path in built_models.values():
        assert (path / "saved_model.pb").is_file()
        assert (path / "variables").is_dir()


def test_half_plus_two_exports_its_three_signatures(
    loaded_models: dict[str, TensorFlowModel],
) -> None:
    model = loaded_models["half_plus_two"]
    assert sorted(model.signatures) == sorted(saved_models.HALF_PLUS_TWO_SIGNATURES)
    np.testing.assert_allclose(model.predict("", {"x": np.array(4.0, np.float32)})["y"], 4.0)


def test_half_plus_two_takes_other_coefficients(
    tmp_path: Path, load_model: Callable[..., TensorFlowModel]
) -> None:
    model = load_model(saved_models.write_half_plus_two(tmp_path / "1", a=2.0, b=1.0))
    np.testing.assert_allclose(model.predict("", {"x": np.array(3.0, np.float32)})["y"], 7.0)


def test_builder_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "file").write_text("taken")
    with pytest.raises(AssertionError):
        saved_models.write_two_input_model(tmp_path / "1")


@pytest.mark.slow
def test_tf2_builder_serves_the_same_computation(
    tmp_path: Path, load_model: Callable[..., TensorFlowModel]
) -> None:
    model = load_model(saved_models.write_tf2_half_plus_two(tmp_path / "1"))
    x = np.array([1.0, 2.0, 5.0], dtype=np.float32)
    np.testing.assert_allclose(model.predict("", {"x": x})["y"], [2.5, 3.0, 4.5])


def test_example_maps_python_types_to_feature_lists() -> None:
    parsed = example_pb2.Example.FromString(
        saved_models.example(f=1.5, i=2, b=b"raw", fs=[1.0, 2.0])
    )
    feature = parsed.features.feature
    assert list(feature["f"].float_list.value) == [1.5]
    assert list(feature["i"].int64_list.value) == [2]
    assert list(feature["b"].bytes_list.value) == [b"raw"]
    assert list(feature["fs"].float_list.value) == [1.0, 2.0]


def test_warmup_writer_round_trips_prediction_logs(tmp_path: Path) -> None:
    import tensorflow as tf

    log = saved_models.predict_log({"x": np.array([1.0], np.float32)}, "serving_default")
    path = saved_models.write_warmup_requests(tmp_path, [log, b"raw"])
    assert path == tmp_path / saved_models.WARMUP_FILE
    records = list(tf.compat.v1.io.tf_record_iterator(str(path)))
    assert prediction_log_pb2.PredictionLog.FromString(records[0]) == log
    assert records[1] == b"raw"
