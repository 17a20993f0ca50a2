"""The ONNX platform's loader and model: signatures, predict, TensorFlow Serving's
validation texts, thread options, and load failures that name the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core import errors
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.array_model import ArrayModel
from tensorserve.platforms.onnx.onnx_loader import OnnxLoader
from tensorserve.platforms.onnx.onnx_session import session_options
from tensorserve.platforms.onnx.options import OnnxOptions
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.model import Model
from tensorserve.servables.signature import PREDICT_METHOD
from tests.support import onnx_models


@pytest.fixture()
def load(tmp_path: Path) -> Iterator[object]:
    loaders: list[OnnxLoader] = []

    def load_model(write: object, options: OnnxOptions | None = None) -> ArrayModel:
        path = write(tmp_path / f"m{len(loaders)}" / "1")  # type: ignore[operator]
        loader = OnnxLoader(ServableId("m", 1), path, options)
        loaders.append(loader)
        loader.load()
        return loader.servable()

    yield load_model
    for loader in loaders:
        loader.unload()


def test_inputs_and_outputs_become_serving_default(load: object) -> None:
    model = load(onnx_models.write_half_plus_two)  # type: ignore[operator]
    assert isinstance(model, Model)
    assert model.platform == "onnx"
    signature = model.signatures["serving_default"]
    assert signature.method_name == PREDICT_METHOD
    assert signature.inputs["x"].dtype is DataType.DT_FLOAT
    assert signature.inputs["x"].shape == (-1, 1)
    assert list(signature.outputs) == ["y"]


def test_predict_computes_the_graph(load: object) -> None:
    model = load(onnx_models.write_half_plus_two)  # type: ignore[operator]
    out = model.predict("", {"x": np.array([[1.0], [2.0]], np.float32)})
    np.testing.assert_array_equal(out["y"], [[2.5], [3.0]])


def test_several_inputs_and_an_output_filter(load: object) -> None:
    model = load(onnx_models.write_two_output)  # type: ignore[operator]
    inputs = {"a": np.array([[1, 2], [3, 4]], np.float32), "b": np.array([5, 6], np.int64)}
    assert set(model.predict("serving_default", inputs)) == {"sum", "b_twice"}
    out = model.predict("serving_default", inputs, output_filter=["b_twice"])
    assert list(out) == ["b_twice"]
    np.testing.assert_array_equal(out["b_twice"], [10, 12])


def test_strings_travel_as_bytes(load: object) -> None:
    model = load(onnx_models.write_string_identity)  # type: ignore[operator]
    text = np.array([b"hello", "caf\u00e9".encode()], dtype=object)
    out = model.predict("", {"text": text})
    assert out["echo"].tolist() == [b"hello", "caf\u00e9".encode()]


@pytest.mark.parametrize(
    ("signature", "inputs", "output_filter", "code", "text"),
    [
        ("nope", {"x": np.ones((1, 1), np.float32)}, (), "FAILED_PRECONDITION",
         'Serving signature key "nope" not found.'),
        ("", {"z": np.ones((1, 1), np.float32)}, (), "INVALID_ARGUMENT",
         "input size does not match signature: 1!=1 len({z}) != len({x}). "
         "Sent extra: {z}. Missing but required: {x}."),
        ("", {"x": np.ones((1, 1), np.int32)}, (), "INVALID_ARGUMENT",
         "Expects arg[0] to be float but int32 is provided"),
        ("", {"x": np.ones((1, 1), np.float32)}, ("q",), "INVALID_ARGUMENT",
         "output tensor alias not found in signature: q Outputs expected to be in the set {y}."),
        ("", {"x": np.ones((1, 1, 1), np.float32)}, (), "INVALID_ARGUMENT", "Invalid rank"),
    ],
)  # fmt: skip
def test_client_mistakes_get_tensorflow_serving_errors(
    load: object,
    signature: str,
    inputs: dict[str, np.ndarray],
    output_filter: tuple[str, ...],
    code: str,
    text: str,
) -> None:
    model = load(onnx_models.write_half_plus_two)  # type: ignore[operator]
    with pytest.raises(errors.ServingError) as caught:
        model.predict(signature, inputs, output_filter)
    assert caught.value.code.name == code
    assert text in caught.value.message


def test_classify_is_refused_as_a_client_error(load: object) -> None:
    model = load(onnx_models.write_half_plus_two)  # type: ignore[operator]
    with pytest.raises(errors.InvalidArgument, match="predict signatures only"):
        model.classify("", [b""])


def test_a_broken_file_fails_the_load_naming_it(tmp_path: Path) -> None:
    path = onnx_models.write_broken(tmp_path / "1")
    loader = OnnxLoader(ServableId("m", 1), path)
    with pytest.raises(errors.DataLoss, match=r"ONNX Runtime could not load .*model\.onnx"):
        loader.load()
    with pytest.raises(errors.FailedPrecondition):
        loader.servable()


def test_a_missing_file_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(errors.NotFound, match=r"Could not find model\.onnx"):
        OnnxLoader(ServableId("m", 1), tmp_path / "1").load()


def test_session_threads_follow_the_server_flags() -> None:
    parallel = session_options(OnnxOptions(intra_op_parallelism=3, inter_op_parallelism=2))
    assert parallel.intra_op_num_threads == 3
    assert parallel.inter_op_num_threads == 2
    assert parallel.execution_mode.name == "ORT_PARALLEL"
    sequential = session_options(OnnxOptions())
    assert sequential.intra_op_num_threads == 1  # the calling thread, as TensorFlow's 0
    assert sequential.execution_mode.name == "ORT_SEQUENTIAL"


def test_no_more_calls_at_once_than_cores(load: object) -> None:
    # Each call computes on its calling thread (and its intra-op pool): more calls at
    # once than cores only take turns on them.
    assert OnnxOptions().calls_at_once(cores=4) == 4
    assert OnnxOptions(intra_op_parallelism=2).calls_at_once(cores=4) == 2
    assert OnnxOptions(intra_op_parallelism=8).calls_at_once(cores=4) == 1
    model = load(onnx_models.write_half_plus_two)  # type: ignore[operator]
    assert model.max_concurrent_calls("serving_default") == OnnxOptions().calls_at_once()
    assert model.compute_only("serving_default")  # quick calls may run in place
