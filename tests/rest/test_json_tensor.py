import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.core.errors import Code, InvalidArgument, ServingError, Unimplemented
from tensorserve.rest.json_tensor import decode_leaves, json_to_tensor, leaves_to_array
from tensorserve.servables.dtypes import DataType as T


def _error(value: Any, dtype: T) -> ServingError:
    with pytest.raises(ServingError) as info:
        json_to_tensor(value, dtype)
    return info.value


def _exact(value: Any, dtype: T) -> np.ndarray:
    shape, leaves = decode_leaves(value, dtype)
    return leaves_to_array(leaves, shape, dtype, value)


def test_shape_is_inferred_from_nested_lists() -> None:
    tensor = json_to_tensor([[1, 2, 3], [4, 5, 6]], T.DT_FLOAT, may_hold_bools=False)
    assert tensor.dtype == np.float32
    assert tensor.shape == (2, 3)
    np.testing.assert_array_equal(tensor, [[1, 2, 3], [4, 5, 6]])


def test_scalar_gives_rank_zero() -> None:
    assert json_to_tensor(5, T.DT_INT64).shape == ()


def test_empty_list_gives_zero_dim() -> None:
    tensor = json_to_tensor([[], []], T.DT_INT32)
    assert tensor.shape == (2, 0)
    assert tensor.dtype == np.int32


def test_ragged_list_reports_unexpected_size() -> None:
    assert _error([[1, 2], [3]], T.DT_FLOAT).message == (
        "Encountered list at unexpected size: 1 at level: 1 expected size: 2"
    )


def test_list_deeper_than_inferred_rank_is_rejected() -> None:
    assert _error([1, [2]], T.DT_FLOAT).message == (
        "Encountered list at unexpected level: 1 expected < 1"
    )


def test_scalar_above_leaf_level_is_rejected() -> None:
    assert _error([[1, 2], 3], T.DT_FLOAT).message == (
        "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"
    )


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        ("a", T.DT_FLOAT, 'JSON Value: "a" Type: String is not of expected type: float'),
        (True, T.DT_FLOAT, "JSON Value: true Type: True is not of expected type: float"),
        (None, T.DT_DOUBLE, "JSON Value: null Type: Null is not of expected type: double"),
        ([1.5], T.DT_INT32, "JSON Value: 1.5 Type: Number is not of expected type: int32"),
        ([1.0], T.DT_INT8, "JSON Value: 1.0 Type: Number is not of expected type: int8"),
        ([2**31], T.DT_INT32, "JSON Value: 2147483648 Type: Number is not of expected type: int32"),
        ([2**63], T.DT_INT64, f"JSON Value: {2**63} Type: Number is not of expected type: int64"),
        ([-1], T.DT_UINT32, "JSON Value: -1 Type: Number is not of expected type: uint32"),
        ([2**32], T.DT_UINT32, f"JSON Value: {2**32} Type: Number is not of expected type: uint32"),
        ([0, 1], T.DT_BOOL, "JSON Value: 0 Type: Number is not of expected type: bool"),
        ([1, True], T.DT_INT32, "JSON Value: true Type: True is not of expected type: int32"),
        (
            {"a": 1},
            T.DT_FLOAT,
            'JSON Value: {\n    "a": 1\n} Type: Object is not of expected type: float',
        ),
        ([1], T.DT_STRING, "JSON Value: 1 Type: Number is not of expected type: string"),
    ],
)
def test_leaf_type_errors(value: Any, dtype: T, message: str) -> None:
    error = _error(value, dtype)
    assert isinstance(error, InvalidArgument)
    assert error.message == message


@pytest.mark.parametrize(
    ("dtype", "name"),
    [
        (T.DT_HALF, "half"),
        (T.DT_BFLOAT16, "bfloat16"),
        (T.DT_COMPLEX64, "complex64"),
        (T.DT_UINT16, "uint16"),
    ],
)
def test_unsupported_dtypes_are_unimplemented(dtype: T, name: str) -> None:
    error = _error([1.5], dtype)
    assert isinstance(error, Unimplemented)
    assert error.message == f"Conversion of JSON Value: 1.5 to type: {name}"


def test_float_accepts_ints_and_keeps_float32_precision_loss() -> None:
    tensor = json_to_tensor([1435774380, 1], T.DT_FLOAT, may_hold_bools=False)
    assert tensor.tolist() == [1435774336.0, 1.0]


def test_float_out_of_range_becomes_infinity() -> None:
    assert json_to_tensor([1e39, -1e39], T.DT_FLOAT).tolist() == [math.inf, -math.inf]
    assert json_to_tensor([1e39, -1e39], T.DT_FLOAT, may_hold_bools=False).tolist() == [
        math.inf,
        -math.inf,
    ]


def test_nan_and_infinity_are_floats() -> None:
    tensor = json_to_tensor([math.nan, math.inf], T.DT_DOUBLE)
    assert math.isnan(tensor[0]) and tensor[1] == math.inf


def test_int_ranges_at_the_edges() -> None:
    assert json_to_tensor([2**63 - 1, -(2**63)], T.DT_INT64).tolist() == [2**63 - 1, -(2**63)]
    assert json_to_tensor([2**64 - 1], T.DT_UINT64).tolist() == [2**64 - 1]
    assert json_to_tensor([2**32 - 1], T.DT_UINT32).tolist() == [2**32 - 1]


def test_narrow_ints_keep_low_bits_like_tensorflow() -> None:
    assert json_to_tensor([300], T.DT_UINT8).tolist() == [44]
    assert json_to_tensor([300], T.DT_UINT8, may_hold_bools=False).tolist() == [44]


def test_bool_accepts_only_true_and_false() -> None:
    assert json_to_tensor([True, False], T.DT_BOOL).tolist() == [True, False]


def test_strings_are_utf8_bytes_and_b64_objects_are_decoded() -> None:
    tensor = json_to_tensor([["héllo", {"b64": "AAE="}]], T.DT_STRING)
    assert tensor.dtype == object
    assert tensor.shape == (1, 2)
    assert tensor.tolist() == [["héllo".encode(), b"\x00\x01"]]


def test_bad_base64_is_reported() -> None:
    assert _error({"b64": "!!"}, T.DT_STRING).message == "Unable to base64 decode"


def test_objects_other_than_b64_are_not_base64() -> None:
    assert _error([{"b64": "AA==", "x": 1}], T.DT_STRING).message == (
        'JSON Value: {\n    "b64": "AA==",\n    "x": 1\n} not formatted correctly for base64 data'
    )


def test_fast_path_and_exact_walker_agree_on_regular_numbers() -> None:
    value = [[1.5, 2, -3], [4, 5e3, 6]]
    fast = json_to_tensor(value, T.DT_DOUBLE, may_hold_bools=False)
    np.testing.assert_array_equal(fast, _exact(value, T.DT_DOUBLE))


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.fixed_dictionaries({"b64": st.text(max_size=8)}),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_json = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4), max_leaves=20)
_dtypes = st.sampled_from(list(T))


@settings(max_examples=400, deadline=None)
@given(value=_json, dtype=_dtypes, may_hold_bools=st.booleans())
def test_decoding_anything_raises_only_serving_errors(
    value: Any, dtype: T, may_hold_bools: bool
) -> None:
    try:
        tensor = json_to_tensor(value, dtype, may_hold_bools=may_hold_bools or _has_bool(value))
    except ServingError as error:
        assert error.code in (Code.INVALID_ARGUMENT, Code.UNIMPLEMENTED)
        return
    assert isinstance(tensor, np.ndarray)


@settings(max_examples=300, deadline=None)
@given(
    value=st.recursive(
        st.one_of(st.integers(-(2**65), 2**65), st.floats(allow_nan=False)),
        lambda inner: st.lists(inner, max_size=3),
        max_leaves=12,
    ),
    dtype=st.sampled_from(
        [T.DT_FLOAT, T.DT_DOUBLE, T.DT_INT32, T.DT_INT64, T.DT_UINT64, T.DT_UINT8]
    ),
)
def test_fast_path_agrees_with_exact_walker(value: Any, dtype: T) -> None:
    try:
        expected = _exact(value, dtype)
    except ServingError:
        with pytest.raises(ServingError):
            json_to_tensor(value, dtype, may_hold_bools=False)
        return
    actual = json_to_tensor(value, dtype, may_hold_bools=False)
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def _has_bool(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bool(v) for v in value.values())
    return isinstance(value, bool)


def test_rank_beyond_numpy_limit_is_an_invalid_argument() -> None:
    value: Any = 1.0
    for _ in range(70):
        value = [value]
    assert _error(value, T.DT_FLOAT).message == "Tensor rank 70 exceeds the supported maximum 64"
