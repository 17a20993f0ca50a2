"""Tests of TensorFlowModel: predict validation texts, classify/regress, runtime errors,
timeouts and concurrent callers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.errors import Code, ServingError
from tensorserve.platforms.tensorflow.session_runner import MAX_TIMEOUTS_PER_STEP
from tensorserve.platforms.tensorflow.tensorflow_model import TensorFlowModel
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import TensorInfo
from tests.support import saved_models
from tests.support.paths import tfserving_model

LoadModel = Callable[..., TensorFlowModel]
X = np.array([1.0, 2.0, 5.0], dtype=np.float32)


@pytest.fixture
def half_plus_two(loaded_models: dict[str, TensorFlowModel]) -> TensorFlowModel:
    return loaded_models["half_plus_two"]


@pytest.fixture
def two_input(loaded_models: dict[str, TensorFlowModel]) -> TensorFlowModel:
    return loaded_models["two_input"]


def error_of(call: Callable[[], object]) -> ServingError:
    with pytest.raises(ServingError) as caught:
        call()
    return caught.value


# --- signatures and metadata ---------------------------------------------------------


def test_signatures_mirror_the_signature_defs(two_input: TensorFlowModel) -> None:
    signature = two_input.signatures["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    assert sorted(signature.inputs) == ["a", "b"]
    assert signature.inputs["a"] == TensorInfo("a:0", DataType.DT_FLOAT, (-1,))
    assert sorted(signature.outputs) == ["product", "sum"]
    assert not signature.has_defaults


def test_unknown_rank_is_a_shape_of_none(half_plus_two: TensorFlowModel) -> None:
    assert half_plus_two.signatures["serving_default"].inputs["x"].shape is None


def test_a_saved_model_is_described_as_platform_tensorflow(
    half_plus_two: TensorFlowModel,
) -> None:
    assert half_plus_two.platform == "tensorflow"
    assert sorted(half_plus_two.signatures) == sorted(saved_models.HALF_PLUS_TWO_SIGNATURES)


# --- predict ------------------------------------------------------------------------


def test_empty_signature_name_means_serving_default(half_plus_two: TensorFlowModel) -> None:
    np.testing.assert_allclose(half_plus_two.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
    np.testing.assert_allclose(
        half_plus_two.predict("serving_default", {"x": X})["y"], [2.5, 3.0, 4.5]
    )


def test_missing_signature_is_failed_precondition(half_plus_two: TensorFlowModel) -> None:
    error = error_of(lambda: half_plus_two.predict("nope", {"x": X}))
    assert error.code is Code.FAILED_PRECONDITION
    assert error.message == 'Serving signature key "nope" not found.'


def test_extra_input_reports_sizes_extra_and_missing(two_input: TensorFlowModel) -> None:
    error = error_of(lambda: two_input.predict("", {"a": X, "b": X, "c": X}))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        "input size does not match signature: 3!=2 len({a,b,c}) != len({a,b}). "
        "Sent extra: {c}. Missing but required: {}."
    )


def test_missing_input_without_defaults_reports_sizes(two_input: TensorFlowModel) -> None:
    error = error_of(lambda: two_input.predict("", {"b": X}))
    assert error.message == (
        "input size does not match signature: 1!=2 len({b}) != len({a,b}). "
        "Sent extra: {}. Missing but required: {a}."
    )


def test_same_count_with_a_wrong_name_reports_the_missing_alias(
    two_input: TensorFlowModel,
) -> None:
    error = error_of(lambda: two_input.predict("", {"a": X, "z": X}))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        "Signature input alias: b(feed name: b:0) not found in request and no default "
        "value provided. Inputs expected to be in the request {a,z}, or default input "
        "alias set: "
    )


def test_signature_defaults_fill_missing_inputs(load_model: LoadModel) -> None:
    model = load_model(tfserving_model("saved_model_half_plus_two_tf2_cpu") / "00000123")
    assert model.signatures["serving_default"].has_defaults
    np.testing.assert_allclose(model.predict("", {})["y"], [2.0])
    np.testing.assert_allclose(model.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
    error = error_of(lambda: model.predict("", {"z": X}))
    assert error.message == (
        "Inputs contains invalid name. Used request inputs: , request input: z"
    )


def test_output_filter_selects_outputs(two_input: TensorFlowModel) -> None:
    outputs = two_input.predict("", {"a": X, "b": X}, output_filter=["sum"])
    assert list(outputs) == ["sum"]
    np.testing.assert_allclose(outputs["sum"], 2 * X)
    assert list(two_input.predict("", {"a": X, "b": X})) == ["product", "sum"]


def test_unknown_output_filter_alias(two_input: TensorFlowModel) -> None:
    error = error_of(lambda: two_input.predict("", {"a": X, "b": X}, output_filter=["diff"]))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        "output tensor alias not found in signature: diff Outputs expected to be in the "
        "set {product,sum}."
    )


def test_duplicate_output_filter_alias(two_input: TensorFlowModel) -> None:
    error = error_of(lambda: two_input.predict("", {"a": X, "b": X}, output_filter=["sum", "sum"]))
    assert error.message == "duplicate output tensor alias: sum"


def test_dtype_mismatch_is_invalid_argument_in_tensorflow_words(
    half_plus_two: TensorFlowModel, two_input: TensorFlowModel
) -> None:
    error = error_of(lambda: half_plus_two.predict("", {"x": np.array([b"a"], dtype=object)}))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == "Expects arg[0] to be float but string is provided"
    error = error_of(lambda: two_input.predict("", {"a": X, "b": np.array([1, 2, 3])}))
    assert error.message == "Expects arg[1] to be float but int64 is provided"


def test_string_inputs_accept_bytes_and_str_arrays(
    loaded_models: dict[str, TensorFlowModel],
) -> None:
    model = loaded_models["string"]
    for text in (
        np.array([b"ab", b"c"], dtype=object),
        np.array([b"ab", b"c"]),
        np.array(["ab", "c"]),
    ):
        outputs = model.predict("", {"text": text})
        assert outputs["greeting"].tolist() == [b"hello, ab", b"hello, c"]
        assert outputs["length"].tolist() == [2, 1]


def test_runtime_errors_keep_tensorflow_code_and_message(two_input: TensorFlowModel) -> None:
    error = error_of(lambda: two_input.predict("", {"a": X, "b": X[:2]}))
    assert error.code is Code.INVALID_ARGUMENT
    assert "Incompatible shapes" in error.message


def test_timeout_is_deadline_exceeded(loaded_models: dict[str, TensorFlowModel]) -> None:
    model = loaded_models["blocking"]
    x = np.array(1.0, dtype=np.float32)
    error = error_of(lambda: model.predict("", {"x": x}, timeout_s=0.05))
    assert error.code is Code.DEADLINE_EXCEEDED


def test_varying_timeouts_fall_back_to_the_generic_run(
    loaded_models: dict[str, TensorFlowModel],
) -> None:
    model = loaded_models["two_input"]
    inputs = {"a": np.array([1.0], np.float32), "b": np.array([2.0], np.float32)}
    for seconds in range(1, MAX_TIMEOUTS_PER_STEP + 3):
        assert model.predict("", inputs, timeout_s=float(seconds))["sum"] == [3.0]
    assert max(model._runner._timeouts_per_step.values()) == MAX_TIMEOUTS_PER_STEP


def test_per_call_deadlines_share_one_callable(
    loaded_models: dict[str, TensorFlowModel],
) -> None:
    model = loaded_models["string"]
    signature = model.signatures["serving_default"]
    alias = next(iter(signature.inputs))
    inputs = {alias: np.array([b"a"], dtype=object)}
    before = len(model._runner._callables)
    for remaining in (19.9991, 19.9982, 19.9973, 19.95, 19.2):
        model.predict("", inputs, timeout_s=remaining)
    assert len(model._runner._callables) == before + 1


def test_method_name_check_lets_predict_run_regress_signatures(
    load_model: LoadModel, built_models: dict[str, Path]
) -> None:
    model = load_model(built_models["half_plus_two"], enable_signature_method_name_check=True)
    np.testing.assert_allclose(model.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
    example = np.array([saved_models.example(x=1.0)], dtype=object)
    np.testing.assert_allclose(
        model.predict("regress_x_to_y", {"inputs": example})["outputs"], [[2.5]]
    )


def test_concurrent_predicts_from_threads_are_correct(half_plus_two: TensorFlowModel) -> None:
    failures: list[str] = []
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        start.wait(timeout=30)
        for i in range(200):
            x = np.array([seed, i], dtype=np.float32)
            y = half_plus_two.predict("", {"x": x}, timeout_s=30.0 if i % 2 else None)["y"]
            if not np.allclose(y, x * 0.5 + 2):
                failures.append(f"{x} -> {y}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


# --- classify and regress --------------------------------------------------------------


def test_classify_returns_classes_and_scores(loaded_models: dict[str, TensorFlowModel]) -> None:
    model = loaded_models["classifier"]
    result = model.classify("", [saved_models.example(x=0.0), saved_models.example(x=2.0)])
    assert result.classes is not None and result.scores is not None
    assert result.classes.tolist() == [[b"negative", b"positive"]] * 2
    np.testing.assert_allclose(result.scores, [[0.5, 0.5], [0.1192029, 0.8807971]], rtol=1e-5)


def test_regress_flattens_batch_by_one_outputs(half_plus_two: TensorFlowModel) -> None:
    values = half_plus_two.regress("regress_x_to_y", [saved_models.example(x=2.0)] * 3)
    assert values.shape == (3,)
    np.testing.assert_allclose(values, [3.0, 3.0, 3.0])


def test_classify_unknown_signature(half_plus_two: TensorFlowModel) -> None:
    error = error_of(lambda: half_plus_two.classify("nope", [saved_models.example(x=1.0)]))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == "No signature was found with the name: nope"


def test_predict_signature_cannot_classify_or_regress(half_plus_two: TensorFlowModel) -> None:
    examples = [saved_models.example(x=1.0)]
    error = error_of(lambda: half_plus_two.classify("", examples))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message.startswith("No classification inputs found in SignatureDef: inputs {")
    assert 'key: "x"' in error.message
    error = error_of(lambda: half_plus_two.regress("", examples))
    assert error.message.startswith("No regression inputs found in SignatureDef: ")


def test_regress_signature_cannot_classify(half_plus_two: TensorFlowModel) -> None:
    error = error_of(lambda: half_plus_two.classify("regress_x_to_y", [b""]))
    assert error.message.startswith(
        'Expected classification signature outputs to contain at least one of "classes" '
        'or "scores". Signature was: '
    )


def test_multi_input_signature_cannot_regress(two_input: TensorFlowModel) -> None:
    error = error_of(lambda: two_input.regress("", [b""]))
    assert error.message == "Expected one input Tensor."


def test_method_name_check_rejects_mismatched_method(
    load_model: LoadModel, built_models: dict[str, Path]
) -> None:
    model = load_model(built_models["half_plus_two"], enable_signature_method_name_check=True)
    error = error_of(lambda: model.classify("regress_x_to_y", [saved_models.example(x=1.0)]))
    assert error.message == (
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/regress"
    )


def test_empty_examples_are_invalid(half_plus_two: TensorFlowModel) -> None:
    error = error_of(lambda: half_plus_two.regress("regress_x_to_y", []))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == "Input is empty."


def test_unparseable_example_is_a_tensorflow_error(half_plus_two: TensorFlowModel) -> None:
    error = error_of(lambda: half_plus_two.regress("regress_x_to_y", [b"\xff\xff"]))
    assert error.code is Code.INVALID_ARGUMENT


def test_regress_accepts_batch_shaped_outputs(loaded_models: dict[str, TensorFlowModel]) -> None:
    model = loaded_models["classifier"]
    np.testing.assert_allclose(model.regress("regress", [saved_models.example(x=0.0)]), [0.5])


def test_multi_inference_runs_tasks_in_order(half_plus_two: TensorFlowModel) -> None:
    examples = [saved_models.example(x=1.0), saved_models.example(x=3.0)]
    classified, regressed = half_plus_two.multi_inference(
        [
            ("classify_x_to_y", "tensorflow/serving/classify"),
            ("regress_x_to_y", "tensorflow/serving/regress"),
        ],
        examples,
    )
    assert not isinstance(classified, np.ndarray)
    assert classified.scores is not None
    np.testing.assert_allclose(classified.scores, [[2.5], [3.5]])
    assert isinstance(regressed, np.ndarray)
    np.testing.assert_allclose(regressed, [2.5, 3.5])


@pytest.mark.parametrize(
    ("tasks", "code", "message"),
    [
        (
            [("regress_x_to_y", "tensorflow/serving/regress")] * 2,
            Code.INVALID_ARGUMENT,
            "Duplicate evaluation of signature: regress_x_to_y",
        ),
        (
            [("nope", "tensorflow/serving/regress")],
            Code.INVALID_ARGUMENT,
            "Requested signature not found in model graph: nope",
        ),
        (
            [("", "tensorflow/serving/predict")],
            Code.UNIMPLEMENTED,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
    ],
)
def test_multi_inference_validation(
    half_plus_two: TensorFlowModel, tasks: list[tuple[str, str]], code: Code, message: str
) -> None:
    error = error_of(lambda: half_plus_two.multi_inference(tasks, [saved_models.example(x=1.0)]))
    assert error.code is code
    assert error.message == message


def _write_signature_without_outputs(path: Path) -> Path:
    """``serving_default`` takes ``x`` and declares no outputs."""
    tf = saved_models._tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape=None, name="x")
        signature = v1.saved_model.signature_def_utils.build_signature_def(
            inputs={"x": v1.saved_model.utils.build_tensor_info(x)},
            outputs={},
            method_name="tensorflow/serving/predict",
        )
    return saved_models._save(path, graph, {"serving_default": signature})


def test_signature_without_outputs_predicts_an_empty_map(
    tmp_path: Path, load_model: Callable[..., TensorFlowModel]
) -> None:
    """TF Serving answers REST with "Cannot convert empty tensor map to JSON" (issue 15),
    so the run must give an empty map, not TensorFlow's refusal to fetch nothing."""
    model = load_model(_write_signature_without_outputs(tmp_path / "1"))
    assert model.predict("serving_default", {"x": np.array([1.0], np.float32)}) == {}
