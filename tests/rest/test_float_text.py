import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.rest.float_text import float_json, float_json_rows


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (9e6, "9e+06"),
        (3.14159265, "3.14159274"),
        (3.0, "3.0"),
        (0.1, "0.1"),
        (0.00003, "3e-05"),
        (555557.5, "555557.5"),
        (1234567.0, "1234567.0"),
        (100000.0, "100000.0"),
        (1e6, "1e+06"),
        (1e9, "1e+09"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (2.5, "2.5"),
        (1e-45, "1.4013e-45"),
        (3.4028235e38, "3.40282347e+38"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
    ],
)
def test_float32_values_are_written_as_tensorflow_serving_writes_them(
    value: float, text: str
) -> None:
    assert float_json(np.array(value, dtype=np.float32)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1 / 3, "0.33333333333333331"),
        (0.1, "0.1"),
        (9e6, "9e+06"),
        (3.0, "3.0"),
        (123456789.0, "123456789.0"),
        (1e17, "1e+17"),
        (math.pi, "3.1415926535897931"),
    ],
)
def test_float64_values_use_17_digits_when_6_do_not_round_trip(value: float, text: str) -> None:
    assert float_json(np.array(value, dtype=np.float64)) == text


def _reference(value: float, dtype: type) -> str:
    """WriteDecimal, one value at a time."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{value:g}"
    if dtype(float(text)) != dtype(value):
        text = f"{value:.9g}" if dtype is np.float32 else f"{value:.17g}"
    return text if "." in text or "e" in text else text + ".0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kind_of_value_matches_the_one_at_a_time_rule(dtype: type) -> None:
    rng = np.random.default_rng(15)
    width = 32 if dtype is np.float32 else 64
    bits = rng.integers(0, 2**width - 1, size=20_000, dtype=np.uint64)
    patterns: np.ndarray = (bits.astype(np.uint32) if width == 32 else bits).view(dtype)
    softmax: np.ndarray = rng.random(5_000).astype(dtype)
    softmax /= softmax.sum()
    integers: np.ndarray = rng.integers(-(10**7), 10**7, size=2_000).astype(dtype)
    decimals: np.ndarray = np.round(rng.random(2_000) * 1000, 2).astype(dtype)
    for values in (patterns, softmax, integers, decimals):
        expected = [_reference(float(v), dtype) for v in values]
        assert float_json(values)[1:-1].split(",") == expected
        # Small arrays take the one-value-at-a-time path: the same text.
        small = [float_json(values[i : i + 50])[1:-1] for i in range(0, 2_000, 50)]
        assert ",".join(small).split(",") == expected[:2_000]


def test_nesting_follows_the_shape() -> None:
    array = np.arange(12, dtype=np.float32).reshape(2, 3, 2) / 2
    assert float_json(array) == (
        "[[[0.0,0.5],[1.0,1.5],[2.0,2.5]],[[3.0,3.5],[4.0,4.5],[5.0,5.5]]]"
    )
    assert float_json(np.zeros((2, 0, 3), np.float32)) == "[[],[]]"
    assert float_json(np.zeros((0, 3), np.float32)) == "[]"
    assert float_json_rows(np.array([[1, np.nan], [9e6, 0.1]], np.float32)) == [
        "[1.0,NaN]",
        "[9e+06,0.1]",
    ]


def test_mostly_short_values_take_the_templated_path_with_the_same_text() -> None:
    values = np.array([1.5, 2.0, 3.25, np.nan, 1e-7, 3.14159265], np.float32)
    assert float_json(values) == "[1.5,2.0,3.25,NaN,1e-07,3.14159274]"


def _nested_reference(array: np.ndarray) -> str:
    if array.ndim == 0:
        return _reference(float(array), array.dtype.type)
    return "[" + ",".join(_nested_reference(row) for row in array) + "]"


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).filter(
        lambda dims: 64 < math.prod(dims) <= 1_500
    ),
    seed=st.integers(0, 2**32 - 1),
    mix=st.sampled_from(["bits", "decimals", "integers", "mixed"]),
)
def test_large_arrays_match_the_one_at_a_time_rule_in_any_shape_and_mix(
    dtype: type, shape: list[int], seed: int, mix: str
) -> None:
    rng = np.random.default_rng(seed)
    size = math.prod(shape)
    width = 32 if dtype is np.float32 else 64
    bits = rng.integers(0, 2**width - 1, size=size, dtype=np.uint64)
    kinds = {
        "bits": (bits.astype(np.uint32) if width == 32 else bits).view(dtype),
        "decimals": np.round(rng.random(size) * 100, 3).astype(dtype),
        "integers": rng.integers(-(10**9), 10**9, size=size).astype(dtype),
    }
    if mix == "mixed":
        choice = rng.integers(0, 3, size=size)
        values = np.choose(choice, list(kinds.values()))
        values[rng.random(size) < 0.05] = np.nan
        values[rng.random(size) < 0.02] = -np.inf
    else:
        values = kinds[mix]
    array = values.astype(dtype).reshape(shape)
    assert float_json(array) == _nested_reference(array)
