"""Tests of warmup replay during load: counts, iterations, limits and error texts."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from tensorflow_serving.apis import prediction_log_pb2

from tensorserve.core.errors import Code, ServingError
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.tensorflow.options import TensorFlowOptions
from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader
from tests.support import saved_models
from tests.support.paths import tfserving_model

X = np.array([1.0, 2.0], dtype=np.float32)


@pytest.fixture
def version_dir(built_models: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of half_plus_two, so each test writes its own warmup file."""
    return Path(shutil.copytree(built_models["half_plus_two"], tmp_path / "model" / "1"))


def load(path: Path, **options: object) -> SavedModelLoader:
    loader = SavedModelLoader(ServableId("warm", 1), path, TensorFlowOptions(**options))  # type: ignore[arg-type]
    loader.load()
    return loader


def load_error(path: Path, **options: object) -> ServingError:
    loader = SavedModelLoader(ServableId("warm", 1), path, TensorFlowOptions(**options))  # type: ignore[arg-type]
    with pytest.raises(ServingError) as caught:
        loader.load()
    return caught.value


def classify_log() -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    request = log.classify_log.request
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples.add().features.feature["x"].float_list.value.append(1)
    return log


def regress_log_with_context() -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    request = log.regress_log.request
    request.model_spec.signature_name = "regress_x_to_y"
    with_context = request.input.example_list_with_context
    with_context.context.features.feature["x"].float_list.value.append(3)
    with_context.examples.add()
    return log


def multi_inference_log() -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    request = log.multi_inference_log.request
    for signature, method in (
        ("classify_x_to_y", "tensorflow/serving/classify"),
        ("regress_x_to_y", "tensorflow/serving/regress"),
    ):
        task = request.tasks.add()
        task.model_spec.name = "warm"
        task.model_spec.signature_name = signature
        task.method_name = method
    request.input.example_list.examples.add().features.feature["x"].float_list.value.append(1)
    return log


def test_no_warmup_file_loads_with_zero_records(version_dir: Path) -> None:
    loader = load(version_dir)
    assert loader.warmup_records == 0
    loader.unload()


def test_every_supported_log_type_is_replayed_and_counted(
    version_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    saved_models.write_warmup_requests(
        version_dir,
        [
            saved_models.predict_log({"x": X}),
            classify_log(),
            regress_log_with_context(),
            multi_inference_log(),
            prediction_log_pb2.PredictionLog(),  # unset log type: skipped but read
        ],
    )
    with caplog.at_level(logging.INFO, logger="tensorserve.warmup"):
        loader = load(version_dir)
    assert loader.warmup_records == 5
    assert "Number of warmup records read: 5." in caplog.text
    np.testing.assert_allclose(loader.servable().predict("", {"x": X})["y"], [2.5, 3.0])
    loader.unload()


def test_warmup_disabled_skips_the_file(version_dir: Path) -> None:
    saved_models.write_warmup_requests(version_dir, [b"not a prediction log \xff"])
    loader = load(version_dir, enable_model_warmup=False)
    assert loader.warmup_records == 0
    loader.unload()


def test_each_record_runs_num_request_iterations_times(tmp_path: Path) -> None:
    counter = Path(
        shutil.copytree(tfserving_model("saved_model_counter") / "00000123", tmp_path / "1")
    )
    increment = saved_models.predict_log({}, signature_name="incr_counter")
    saved_models.write_warmup_requests(counter, [increment, increment])
    loader = load(counter, num_request_iterations_for_warmup=3)
    assert loader.warmup_records == 2
    assert loader.servable().predict("get_counter", {})["output"] == 6
    loader.unload()


def test_failing_warmup_request_fails_the_load(version_dir: Path) -> None:
    saved_models.write_warmup_requests(
        version_dir, [saved_models.predict_log({"x": X}, signature_name="nope")]
    )
    error = load_error(version_dir)
    assert error.code is Code.FAILED_PRECONDITION
    assert error.message == 'Serving signature key "nope" not found.'


def test_corrupt_tfrecord_is_data_loss(version_dir: Path) -> None:
    path = saved_models.write_warmup_requests(version_dir, [saved_models.predict_log({"x": X})])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # break the record's data checksum
    path.write_bytes(bytes(data))
    error = load_error(version_dir)
    assert error.code is Code.DATA_LOSS
    assert error.message.endswith(". Please verify your warmup data is in TFRecord format.")


def test_unparseable_record_is_invalid_argument(version_dir: Path) -> None:
    saved_models.write_warmup_requests(version_dir, [b"\x0a\xff\xff"])
    error = load_error(version_dir)
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message.startswith("Failed to parse warmup record: ")
    assert error.message.endswith(f" from {version_dir / saved_models.WARMUP_FILE}")


@pytest.mark.parametrize(("kind", "number"), [("session_run_log", 5), ("predict_streamed_log", 7)])
def test_unsupported_log_types_are_unimplemented(version_dir: Path, kind: str, number: int) -> None:
    log = prediction_log_pb2.PredictionLog()
    getattr(log, kind).SetInParent()
    saved_models.write_warmup_requests(version_dir, [log])
    error = load_error(version_dir)
    assert error.code is Code.UNIMPLEMENTED
    assert error.message == f"Unsupported log_type for warmup: {number}"


def test_more_than_a_thousand_records_is_invalid_argument(version_dir: Path) -> None:
    saved_models.write_warmup_requests(version_dir, [prediction_log_pb2.PredictionLog()] * 1001)
    error = load_error(version_dir)
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        "Number of warmup records exceeds the maximum (1000) at "
        f"{version_dir / saved_models.WARMUP_FILE}"
    )


def test_exactly_a_thousand_records_are_accepted(version_dir: Path) -> None:
    saved_models.write_warmup_requests(version_dir, [prediction_log_pb2.PredictionLog()] * 1000)
    loader = load(version_dir)
    assert loader.warmup_records == 1000
    loader.unload()


def test_multi_inference_log_needs_one_model_name(version_dir: Path) -> None:
    log = multi_inference_log()
    log.multi_inference_log.request.tasks[1].model_spec.name = "other"
    saved_models.write_warmup_requests(version_dir, [log])
    error = load_error(version_dir)
    assert error.message == (
        "All ModelSpecs in a MultiInferenceRequest must access the same model name."
    )
