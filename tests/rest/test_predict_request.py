from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.core.errors import InvalidArgument, ServingError
from tensorserve.rest.predict_request import RequestFormat, decode_predict_inputs
from tensorserve.servables.dtypes import DataType as T

ONE = {"x": T.DT_FLOAT}
TWO = {"a": T.DT_FLOAT, "b": T.DT_INT64}


def _decode(document: dict[str, Any], dtypes: dict[str, T] = ONE) -> dict[str, np.ndarray]:
    tensors, _ = decode_predict_inputs(document, "", dtypes)
    return tensors


def _error(document: dict[str, Any], dtypes: dict[str, T] = ONE) -> str:
    with pytest.raises(ServingError) as info:
        decode_predict_inputs(document, "", dtypes)
    assert isinstance(info.value, InvalidArgument) or info.value.code.name == "UNIMPLEMENTED"
    return info.value.message


def test_row_format_stacks_instances_into_a_batch() -> None:
    tensors, request_format = decode_predict_inputs({"instances": [1.0, 2.0, 5.0]}, "", ONE)
    assert request_format is RequestFormat.ROW
    np.testing.assert_array_equal(tensors["x"], np.array([1, 2, 5], np.float32))


def test_row_format_with_objects_gives_one_tensor_per_input() -> None:
    tensors = _decode({"instances": [{"a": [1, 2], "b": 3}, {"a": [4, 5], "b": 6}]}, TWO)
    assert tensors["a"].shape == (2, 2) and tensors["a"].dtype == np.float32
    assert tensors["b"].tolist() == [3, 6]


def test_single_input_also_accepts_the_objects_form() -> None:
    assert _decode({"instances": [{"x": 1.0}, {"x": 2.0}]})["x"].tolist() == [1.0, 2.0]


def test_row_format_with_b64_strings() -> None:
    tensors = _decode({"instances": [{"b64": "aGk="}, "yo"]}, {"s": T.DT_STRING})
    assert tensors["s"].tolist() == [b"hi", b"yo"]


def test_columnar_format_with_named_inputs_of_different_batch() -> None:
    tensors, request_format = decode_predict_inputs(
        {"inputs": {"a": [[1.0]], "b": [1, 2, 3], "extra": "ignored"}}, "", TWO
    )
    assert request_format is RequestFormat.COLUMNAR
    assert tensors["a"].shape == (1, 1) and tensors["b"].shape == (3,)


def test_columnar_scalar_gives_rank_zero() -> None:
    assert _decode({"inputs": 3.0})["x"].shape == ()


def test_columnar_b64_object_is_one_tensor_not_a_map() -> None:
    assert _decode({"inputs": {"b64": "aGk="}}, {"s": T.DT_STRING})["s"].tolist() == b"hi"


def test_empty_input_map_names_the_signature() -> None:
    with pytest.raises(InvalidArgument) as info:
        decode_predict_inputs({"instances": [1]}, "", {})
    assert info.value.message == "Failed to get input map for signature: DEFAULT"
    with pytest.raises(InvalidArgument) as info:
        decode_predict_inputs({"instances": [1]}, "sig", {})
    assert info.value.message == "Failed to get input map for signature: sig"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"instances": [1], "inputs": [1]},
            'JSON Value: {\n    "instances": [1],\n    "inputs": [1]\n} Not formatted correctly '
            "expecting only one of 'inputs' or 'instances' keys to exist ",
        ),
        ({"signature_name": "s"}, "Missing 'inputs' or 'instances' key"),
        (
            {"instances": 1},
            "JSON Value: {\n    \"instances\": 1\n} Expecting 'instances' to be an list/array",
        ),
        (
            {"instances": []},
            "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array",
        ),
    ],
)
def test_format_key_errors(document: dict[str, Any], message: str) -> None:
    assert _error(document) == message


def test_multi_input_plain_list_is_rejected() -> None:
    assert _error({"instances": [1, 2]}, TWO) == (
        "instances is a plain list, but expecting list of objects as multiple input tensors "
        "required as per tensorinfo_map"
    )


def test_mixed_objects_and_lists_are_rejected() -> None:
    assert _error({"instances": [{"a": 1, "b": 1}, [1]]}, TWO) == (
        "Expecting object but got list at item 1 of input list"
    )
    assert _error({"instances": [1.0, {"x": 1.0}]}) == (
        "Expecting value/list but got object at item 1 of input list"
    )


def test_unknown_key_in_instance_is_wrapped_with_the_key() -> None:
    assert _error({"instances": [{"a": 1, "c": 2}]}, TWO) == (
        "Failed to process element: 0 key: c of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: c"
    )


def test_instance_missing_a_key_lists_the_expected_names() -> None:
    assert _error({"instances": [{"a": 1, "b": 1}, {"a": 1}]}, TWO) == (
        "Failed to process element: 1 of 'instances' list. JSON object: {\n    \"a\": 1\n} "
        "keys must be equal to: a,b"
    )


def test_rows_of_different_size_are_rejected() -> None:
    assert _error({"instances": [[1, 2], [1, 2, 3]]}) == (
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting tensor size: 2 but got: 3"
    )


def test_rows_of_same_size_but_different_shape_are_rejected() -> None:
    assert _error({"instances": [[[1, 2]], [[1], [2]]]}) == (
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting shape [1,2] but got: [2,1]"
    )
    assert _error({"instances": [1, [2]]}) == (
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting shape [] but got: [1]"
    )


def test_row_type_error_is_wrapped_with_the_element_index() -> None:
    assert _error({"instances": [1.0, "a"]}) == (
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        'JSON Value: "a" Type: String is not of expected type: float'
    )
    assert _error({"instances": [{"a": 1, "b": 1.5}]}, TWO) == (
        "Failed to process element: 0 key: b of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON Value: 1.5 Type: Number is not of expected type: int64"
    )


def test_unsupported_dtype_in_rows_is_wrapped_as_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as info:
        decode_predict_inputs({"instances": [1.0]}, "", {"h": T.DT_HALF})
    assert info.value.message == (
        "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: "
        "Conversion of JSON Value: 1.0 to type: half"
    )


def test_columnar_errors_are_not_wrapped() -> None:
    assert _error({"inputs": [1], "x": 1}, TWO) == (
        "inputs is a plain value/list, but expecting an object as multiple input tensors "
        "required as per tensorinfo_map"
    )
    assert _error({"inputs": {"a": [1]}}, TWO) == "Missing named input: b in 'inputs' object."
    assert _error({"inputs": {"a": [1], "b": [1.5]}}, TWO) == (
        "JSON Value: 1.5 Type: Number is not of expected type: int64"
    )
    with pytest.raises(ServingError) as info:
        decode_predict_inputs({"inputs": [1.0]}, "", {"h": T.DT_HALF})
    assert info.value.code.name == "UNIMPLEMENTED"


def test_bool_among_numbers_is_caught_when_the_body_may_hold_bools() -> None:
    assert "Type: True" in _error({"instances": [1.0, True]})


_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abx"), inner, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(
    document=st.dictionaries(st.sampled_from(["instances", "inputs", "other"]), _value),
    dtypes=st.sampled_from([ONE, TWO, {"x": T.DT_STRING}, {"x": T.DT_BOOL}]),
)
def test_decoding_any_document_raises_only_serving_errors(
    document: dict[str, Any], dtypes: dict[str, T]
) -> None:
    try:
        decode_predict_inputs(document, "", dtypes)
    except ServingError:
        pass
