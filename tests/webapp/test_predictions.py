"""Reading top classes out of predict answers."""

from __future__ import annotations

import pytest

from tensorserve.webapp import errors
from tensorserve.webapp.metadata import SignatureSpec, TensorSpec
from tensorserve.webapp.predictions import Prediction, bar_scale, top_predictions


def signature(*outputs: TensorSpec) -> SignatureSpec:
    return SignatureSpec("serving_default", "", (TensorSpec("x", "DT_STRING", (-1,)),), outputs)


SCORES = TensorSpec("scores", "DT_FLOAT", (-1, 3))
CLASSES = TensorSpec("classes", "DT_STRING", (-1, 3))


def test_labels_come_from_the_classes_output_and_sort_by_score() -> None:
    rows = [{"classes": ["cat", "dog", "owl"], "scores": [0.2, 0.7, 0.1]}]

    top = top_predictions("m", signature(CLASSES, SCORES), rows, k=2)

    assert top == [Prediction("dog", 0.7), Prediction("cat", 0.2)]


def test_without_classes_labels_are_indexes() -> None:
    top = top_predictions("m", signature(SCORES), [[0.1, 0.3, 0.6]], k=5)

    assert [p.label for p in top] == ["2", "1", "0"]


def test_first_float_output_is_used_when_none_is_called_scores() -> None:
    logits = TensorSpec("dense_1", "DT_FLOAT", (-1, 2))
    ids = TensorSpec("ids", "DT_INT64", (-1, 2))

    top = top_predictions("m", signature(ids, logits), [{"ids": [7, 8], "dense_1": [-3.0, 5.0]}], 1)

    assert top == [Prediction("1", 5.0)]
    assert bar_scale(top) == 5.0


def test_b64_class_labels_are_decoded() -> None:
    rows = [{"classes": [{"b64": "eWVz"}, {"b64": "bm8="}], "scores": [0.9, 0.1]}]

    assert top_predictions("m", signature(CLASSES, SCORES), rows, 1)[0].label == "yes"


def test_model_without_a_float_output_is_unsupported() -> None:
    with pytest.raises(errors.UnsupportedSignature):
        top_predictions("m", signature(CLASSES), [["a", "b"]], 1)
