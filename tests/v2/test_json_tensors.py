import math

import numpy as np
import orjson
import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.v2.datatypes import BY_NAME
from tensorserve.v2.json_tensors import decode_json_data, json_data


def decode(data: object, name: str, shape: list[int], may_hold_bools: bool = True) -> np.ndarray:
    return decode_json_data(data, BY_NAME[name], shape, "x", may_hold_bools=may_hold_bools)


@pytest.mark.parametrize("may_hold_bools", [True, False])
def test_flat_and_nested_data_give_the_same_tensor(may_hold_bools: bool) -> None:
    flat = decode([1, 2, 3, 4, 5, 6], "FP32", [2, 3], may_hold_bools)
    nested = decode([[1, 2, 3], [4, 5, 6]], "FP32", [2, 3], may_hold_bools)
    assert flat.dtype == np.float32 and flat.shape == (2, 3)
    np.testing.assert_array_equal(flat, nested)


def test_ragged_nesting_counts_only_elements_as_triton_does() -> None:
    assert decode([[1], [2, 3]], "INT32", [3]).tolist() == [1, 2, 3]


def test_element_count_must_match_the_shape() -> None:
    with pytest.raises(InvalidArgument, match=r"unexpected number of elements 3 .* holds 4"):
        decode([1, 2, 3], "FP32", [2, 2])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INT8", 128),
        ("INT8", -129),
        ("UINT8", -1),
        ("UINT8", 256),
        ("INT32", 2**31),
        ("UINT32", 2**32),
        ("INT64", 2**63),
        ("UINT64", 2**64),
    ],
)
def test_integers_are_range_checked(name: str, value: int) -> None:
    with pytest.raises(InvalidArgument, match="'x'"):
        decode([0, value], name, [2], may_hold_bools=False)


@pytest.mark.parametrize("name", ["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT64"])
def test_integer_limits_are_accepted(name: str) -> None:
    info = np.iinfo(BY_NAME[name].numpy)
    values = [int(info.min), int(info.max)]
    assert decode(values, name, [2], may_hold_bools=False).tolist() == values


def test_int64_keeps_every_digit() -> None:
    value = 2**63 - 1
    assert decode([value], "INT64", [1]).tolist() == [value]


@pytest.mark.parametrize("value", [1.5, True, "1", None, {"a": 1}])
def test_integer_tensors_refuse_other_values(value: object) -> None:
    with pytest.raises(InvalidArgument, match="is not a valid INT32 value"):
        decode([1, value], "INT32", [2])


def test_booleans_are_only_true_and_false() -> None:
    assert decode([True, False], "BOOL", [2]).tolist() == [True, False]
    with pytest.raises(InvalidArgument, match="is not a valid BOOL value"):
        decode([1, 0], "BOOL", [2])


def test_a_boolean_among_numbers_is_found_when_the_body_may_hold_one() -> None:
    with pytest.raises(InvalidArgument, match="True is not a valid FP32 value"):
        decode([1.0, True], "FP32", [2], may_hold_bools=True)


def test_nan_and_infinity_are_accepted_for_floats() -> None:
    array = decode([math.nan, math.inf, -math.inf, 1], "FP64", [4])
    assert math.isnan(array[0]) and array[1] == math.inf and array[2] == -math.inf


def test_strings_become_utf8_bytes() -> None:
    array = decode([["a", "é"], [""]], "BYTES", [3])
    assert array.dtype == object
    assert array.tolist() == [b"a", "é".encode(), b""]


def test_bytes_tensors_refuse_numbers() -> None:
    with pytest.raises(InvalidArgument, match="1 is not a valid BYTES value"):
        decode(["a", 1], "BYTES", [2])


def test_a_lone_surrogate_is_a_client_error() -> None:
    with pytest.raises(InvalidArgument, match="not valid Unicode"):
        decode(["\ud800"], "BYTES", [1])


@pytest.mark.parametrize("name", ["FP16", "BF16"])
def test_half_floats_have_no_json_form(name: str) -> None:
    with pytest.raises(InvalidArgument, match=f"receiving {name} data via JSON"):
        decode([1.0], name, [1])
    with pytest.raises(InvalidArgument, match=f"sending {name} data via JSON"):
        json_data(np.zeros(1, BY_NAME[name].numpy), BY_NAME[name], "y")


def test_a_scalar_may_be_sent_bare_or_in_a_list() -> None:
    assert decode(5, "INT32", []).shape == ()
    assert decode([5], "INT32", []).tolist() == 5


def test_empty_tensors() -> None:
    assert decode([], "FP32", [0, 3]).shape == (0, 3)
    assert decode([], "BYTES", [0]).shape == (0,)


def test_deep_nesting_is_refused() -> None:
    data: object = [1]
    for _ in range(100):
        data = [data]
    with pytest.raises(InvalidArgument, match="nested deeper"):
        decode(data, "INT32", [1])


def test_outputs_are_written_flat() -> None:
    value = json_data(np.arange(6, dtype=np.int32).reshape(2, 3), BY_NAME["INT32"], "y")
    assert orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)) == list(range(6))


def test_float32_outputs_use_the_shortest_text() -> None:
    value = json_data(np.array([0.1], np.float32), BY_NAME["FP32"], "y")
    assert orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY) == b"[0.1]"


def test_non_finite_outputs_are_written_as_tokens() -> None:
    value = json_data(np.array([[np.nan], [np.inf]], np.float32), BY_NAME["FP32"], "y")
    assert orjson.dumps({"data": value}) == b'{"data":[NaN,Infinity]}'


def test_bytes_outputs_are_strings_when_utf8() -> None:
    value = json_data(np.array([b"a", "é".encode()], dtype=object), BY_NAME["BYTES"], "y")
    assert value == ["a", "é"]
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        json_data(np.array([b"\xff"], dtype=object), BY_NAME["BYTES"], "y")
