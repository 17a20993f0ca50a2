"""Tests of the classify/regress output checks, on arrays without a session."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.protobuf import meta_graph_pb2

from tensorserve.core.errors import Code, ServingError
from tensorserve.platforms.tensorflow import example_inference


def signature(outputs: dict[str, str], method: str) -> meta_graph_pb2.SignatureDef:
    proto = meta_graph_pb2.SignatureDef(method_name=method)
    proto.inputs["inputs"].name = "examples:0"
    for alias, name in outputs.items():
        proto.outputs[alias].name = name
    return proto


CLASSIFY = signature({"classes": "c:0", "scores": "s:0"}, "tensorflow/serving/classify")
REGRESS = signature({"outputs": "o:0"}, "tensorflow/serving/regress")


def error_of(call: object) -> ServingError:
    with pytest.raises(ServingError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_classification_tensors_lists_classes_then_scores() -> None:
    assert example_inference.classification_tensors(CLASSIFY, check_method_name=True) == (
        "examples:0",
        ["c:0", "s:0"],
    )


def test_classification_needs_one_or_two_outputs() -> None:
    proto = signature({"classes": "c:0", "scores": "s:0", "extra": "e:0"}, "")
    error = error_of(lambda: example_inference.classification_tensors(proto, False))
    assert error.message == "Expected one or two output Tensors, found 3"


def test_regression_method_check_only_when_enabled() -> None:
    proto = signature({"outputs": "o:0"}, "tensorflow/serving/predict")
    assert example_inference.regression_tensors(proto, check_method_name=False)[1] == ["o:0"]
    error = error_of(lambda: example_inference.regression_tensors(proto, True))
    assert error.message == (
        "Expected regression signature method_name to be tensorflow/serving/regress. "
        "Was: tensorflow/serving/predict"
    )


def test_regression_needs_outputs_alias() -> None:
    proto = signature({"scores": "s:0"}, "")
    error = error_of(lambda: example_inference.regression_tensors(proto, False))
    assert error.message.startswith("No regression outputs found in SignatureDef: ")


def test_classifications_pass_through_valid_tensors() -> None:
    classes = np.array([[b"a", b"b"]], dtype=object)
    scores = np.array([[0.25, 0.75]], dtype=np.float32)
    result = example_inference.classifications(CLASSIFY, 1, {"c:0": classes, "s:0": scores})
    assert result.classes is classes
    assert result.scores is scores


@pytest.mark.parametrize(
    ("classes", "scores", "message"),
    [
        (
            np.array([b"a"], dtype=object),
            np.zeros((1, 1), np.float32),
            "Expected Tensor shape: [batch_size num_classes] but got [1]",
        ),
        (
            np.zeros((1, 1), np.int32),
            np.zeros((1, 1), np.float32),
            "Expected classes Tensor of DT_STRING. Got: DT_INT32",
        ),
        (
            np.array([[b"a"]], dtype=object),
            np.zeros((1, 1), np.float64),
            "Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE",
        ),
        (
            np.array([[b"a"]] * 2, dtype=object),
            np.zeros((1, 1), np.float32),
            "Expected classes output batch size of 1. Got: 2",
        ),
        (
            np.array([[b"a"]], dtype=object),
            np.zeros((1, 2), np.float32),
            "Tensors class and score should match in dim_size(1). Got 1 vs. 2",
        ),
    ],
)
def test_classification_output_errors(
    classes: np.ndarray, scores: np.ndarray, message: str
) -> None:
    fetched = {"c:0": classes, "s:0": scores}
    error = error_of(lambda: example_inference.classifications(CLASSIFY, 1, fetched))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == message


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            np.zeros((2, 2), np.float32),
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
            "but got [2,2]",
        ),
        (np.zeros((3,), np.float32), "Input batch size did not match output batch size: 2 vs. 3"),
        (np.zeros((2, 1), np.int64), "Expected output Tensor of DT_FLOAT.  Got: DT_INT64"),
    ],
)
def test_regression_output_errors(output: np.ndarray, message: str) -> None:
    error = error_of(lambda: example_inference.regressions(REGRESS, 2, {"o:0": output}))
    assert error.message == message


def test_regressions_flatten_batch_by_one() -> None:
    output = np.array([[1.5], [2.5]], dtype=np.float32)
    np.testing.assert_array_equal(
        example_inference.regressions(REGRESS, 2, {"o:0": output}), [1.5, 2.5]
    )
