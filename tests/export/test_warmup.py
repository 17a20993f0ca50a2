"""The warmup file is a TFRecord of PredictionLog as TensorFlow Serving reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tests.export.conftest import build_image_model, build_multi_io_model, export_keras_model


def read_logs(version_dir: Path) -> list[prediction_log_pb2.PredictionLog]:
    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


def test_warmup_records_are_predict_logs_for_serving_default(base_dir: Path) -> None:
    result = export_keras_model(build_multi_io_model(), base_dir, "multi", warmup_samples=4)
    logs = read_logs(result.path)
    assert len(logs) == 4
    for log in logs:
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.name == "multi"
        assert request.model_spec.signature_name == "serving_default"
        assert tf.make_ndarray(request.inputs["a"]).shape == (1, 3)
        assert tf.make_ndarray(request.inputs["b"]).shape == (1, 2, 2)


def test_image_warmup_records_carry_decodable_image_bytes(base_dir: Path) -> None:
    result = export_keras_model(
        build_image_model(), base_dir, "gray", image_input=True, warmup_samples=2
    )
    logs = read_logs(result.path)
    assert len(logs) == 2
    images = tf.make_ndarray(logs[0].predict_log.request.inputs["image_bytes"])
    assert images.shape == (1,)
    assert tf.io.decode_png(images[0]).shape == (8, 8, 1)


def test_no_warmup_file_unless_asked(base_dir: Path) -> None:
    result = export_keras_model(build_multi_io_model(), base_dir, "multi")
    assert not (result.path / "assets.extra" / "tf_serving_warmup_requests").exists()
    assert np.isfinite(result.max_abs_difference)
