import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.core.errors import InvalidArgument, ServingError
from tensorserve.rest.example_json import (
    render_classify_results,
    render_regress_results,
    serialized_examples,
)
from tensorserve.servables.model import Classifications


def _example(serialized: bytes) -> Any:
    from tensorflow.core.example import example_pb2

    return example_pb2.Example.FromString(serialized)


def _error(document: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgument) as info:
        serialized_examples(document)
    return info.value.message


def test_feature_kinds_follow_json_types() -> None:
    (serialized,) = serialized_examples(
        {
            "examples": [
                {
                    "int": 80,
                    "float": 80.0,
                    "exp": 1e2,
                    "flag": [True, False],
                    "text": "héllo",
                    "raw": {"b64": "AAE="},
                    "list": [1.5, 2.5],
                    "empty": [],
                }
            ]
        }
    )
    features = _example(serialized).features.feature
    assert list(features["int"].int64_list.value) == [80]
    assert list(features["float"].float_list.value) == [80.0]
    assert list(features["exp"].float_list.value) == [100.0]
    assert list(features["flag"].int64_list.value) == [1, 0]
    assert list(features["text"].bytes_list.value) == ["héllo".encode()]
    assert list(features["raw"].bytes_list.value) == [b"\x00\x01"]
    assert list(features["list"].float_list.value) == [1.5, 2.5]
    assert features["empty"].WhichOneof("kind") is None


def test_nan_feature_is_a_float() -> None:
    (serialized,) = serialized_examples({"examples": [{"x": math.nan}]})
    assert math.isnan(_example(serialized).features.feature["x"].float_list.value[0])


def test_context_is_merged_into_every_example_and_examples_win() -> None:
    examples = serialized_examples(
        {"context": {"c": "shared", "x": 0}, "examples": [{"x": 1}, {"y": 2.5}]}
    )
    first, second = (_example(e).features.feature for e in examples)
    assert list(first["c"].bytes_list.value) == [b"shared"]
    assert list(first["x"].int64_list.value) == [1]
    assert list(second["x"].int64_list.value) == [0]
    assert list(second["y"].float_list.value) == [2.5]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"context": {}},
            "JSON Value: {\n    \"context\": {}\n} When method is classify, key 'examples' is "
            "expected and was not found",
        ),
        (
            {"examples": {}},
            "JSON Value: {\n    \"examples\": {}\n} Expecting 'examples' value to be an list/array",
        ),
        (
            {"examples": []},
            "JSON Value: {\n    \"examples\": []\n} 'examples' value is an empty array",
        ),
        ({"examples": [1]}, "Example must be JSON object but got JSON Number"),
        ({"context": [], "examples": [{}]}, "Example must be JSON object but got JSON Array"),
        (
            {"examples": [{"f": [1, 1.5]}]},
            "Unexpected element type in feature: f expecting type: int64",
        ),
        (
            {"examples": [{"f": ["a", 1]}]},
            "Unexpected element type in feature: f expecting type: bytes",
        ),
        (
            {"examples": [{"f": [1.5, True]}]},
            "Unexpected element type in feature: f expecting type: float",
        ),
        ({"examples": [{"f": None}]}, "Feature: f has element with unexpected JSON type: Null"),
        ({"examples": [{"f": [[1]]}]}, "Feature: f has element with unexpected JSON type: Array"),
        (
            {"examples": [{"f": {"a": 1}}]},
            "Feature: f has element with unexpected JSON type: Object",
        ),
        (
            {"examples": [{"f": 2**63}]},
            "Feature: f has uint64_t element. Only int64_t is supported.",
        ),
        ({"examples": [{"f": {"b64": "%%"}}]}, "Unable to base64 decode"),
    ],
)
def test_conversion_errors(document: dict[str, Any], message: str) -> None:
    assert _error(document) == message


def test_context_errors_come_before_examples_errors() -> None:
    assert _error({"context": 1}) == "Example must be JSON object but got JSON Number"


def test_classify_results_pair_labels_and_scores() -> None:
    body = render_classify_results(
        Classifications(
            classes=np.array([[b"cat", b"dog"]], dtype=object),
            scores=np.array([[0.9, 0.1]], np.float32),
        )
    )
    assert body == b'{"results":[[["cat",0.9],["dog",0.1]]]}'


def test_classify_results_without_classes_or_scores_use_defaults() -> None:
    scores_only = Classifications(classes=None, scores=np.array([[2.5], [3.0]], np.float32))
    assert render_classify_results(scores_only) == b'{"results":[[["",2.5]],[["",3.0]]]}'
    classes_only = Classifications(classes=np.array([[b"a"]], dtype=object), scores=None)
    assert render_classify_results(classes_only) == b'{"results":[[["a",0.0]]]}'


def test_empty_results_cannot_be_converted() -> None:
    with pytest.raises(InvalidArgument) as info:
        render_classify_results(Classifications(None, None))
    assert info.value.message == "Cannot convert empty ClassificationResults to JSON"
    with pytest.raises(InvalidArgument) as info:
        render_regress_results(np.zeros(0))
    assert info.value.message == "Cannot convert empty RegressionResults to JSON"


def test_regress_results_are_flat_floats() -> None:
    assert render_regress_results(np.array([[3.5], [4.0]])) == b'{"results":[3.5,4.0]}'
    assert render_regress_results(np.array([np.nan])) == b'{"results":[NaN]}'


_feature = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.text(max_size=3),
        st.fixed_dictionaries({"b64": st.text(max_size=6)}),
    ),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    document=st.dictionaries(
        st.sampled_from(["examples", "context", "x"]),
        st.one_of(
            st.lists(st.dictionaries(st.text(max_size=2), _feature, max_size=3), max_size=3),
            st.dictionaries(st.text(max_size=2), _feature, max_size=3),
            _feature,
        ),
    )
)
def test_converting_any_document_raises_only_serving_errors(document: dict[str, Any]) -> None:
    try:
        serialized_examples(document)
    except ServingError:
        pass


def test_feature_name_that_is_not_utf8_is_a_client_error() -> None:
    assert _error({"examples": [{"\udcff": 1.0}]}) == "Feature name: b'\\xff' is not valid UTF-8"
