"""The TFLite platform on TensorFlow Serving's own TFLite test models (skipped when
``../shared/testdata`` is absent): signatures as TensorFlow Serving finds them,
predict at any batch size, and load failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core import errors
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.array_model import ArrayModel
from tensorserve.platforms.tflite.tflite_loader import DEFAULT_POOL_SIZE, TfLiteLoader
from tensorserve.servables.dtypes import DataType
from tests.support.paths import tfserving_model

VERSION = "00000123"


@pytest.fixture()
def load() -> Iterator[object]:
    loaders: list[TfLiteLoader] = []

    def load_model(name: str) -> ArrayModel:
        loader = TfLiteLoader(ServableId(name, 123), tfserving_model(name) / VERSION)
        loaders.append(loader)
        loader.load()
        return loader.servable()

    yield load_model
    for loader in loaders:
        loader.unload()


def test_half_plus_two_answers_at_any_batch_size(load: object) -> None:
    model = load("saved_model_half_plus_two_tflite")  # type: ignore[operator]
    assert model.platform == "tflite"
    assert model.max_concurrent_calls("") == DEFAULT_POOL_SIZE  # one call per interpreter
    assert not model.compute_only("")  # a call may wait for an interpreter of the pool
    signature = model.signatures["serving_default"]
    assert list(signature.inputs) == ["x"] and list(signature.outputs) == ["y"]
    out = model.predict("", {"x": np.array([[1.0], [2.0], [5.0]], np.float32)})
    np.testing.assert_allclose(out["y"], [[2.5], [3.0], [4.5]])
    out = model.predict("", {"x": np.array([[0.0]], np.float32)})
    np.testing.assert_allclose(out["y"], [[2.0]])


def test_signature_defs_in_the_metadata_name_the_aliases(load: object) -> None:
    model = load("saved_model_half_plus_two_tflite_with_sigdef")  # type: ignore[operator]
    signature = model.signatures["serving_default"]
    assert list(signature.inputs) == ["x"]
    assert signature.inputs["x"].name == "tflite_input"
    assert signature.inputs["x"].dtype is DataType.DT_FLOAT
    out = model.predict("serving_default", {"x": np.array([[1.0], [3.0]], np.float32)})
    np.testing.assert_allclose(out["y"], [[2.5], [3.5]])


def test_a_model_needing_a_custom_op_ends_with_the_op_named() -> None:
    """``parse_example_tflite`` needs TensorFlow Serving's ``ParseExampleV2`` custom
    kernel, which Python's TFLite interpreter does not register."""
    loader = TfLiteLoader(ServableId("p", 123), tfserving_model("parse_example_tflite") / VERSION)
    with pytest.raises(errors.DataLoss, match="unresolved custom op: ParseExampleV2"):
        loader.load()


def test_wrong_dtype_is_a_client_error(load: object) -> None:
    model = load("saved_model_half_plus_two_tflite")  # type: ignore[operator]
    with pytest.raises(errors.InvalidArgument, match="Expects arg\\[0\\] to be float"):
        model.predict("", {"x": np.array([[1]], np.int32)})


def test_a_broken_file_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "model.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(errors.DataLoss, match="TensorFlow Lite could not load"):
        TfLiteLoader(ServableId("m", 1), tmp_path).load()
