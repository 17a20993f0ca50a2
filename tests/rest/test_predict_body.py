"""The fast predict body against the general path (parse the document, then decode it):
identical tensors, bit for bit, or identical errors, on generated bodies."""

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.core.errors import ServingError
from tensorserve.rest.json_document import parse_request_object
from tensorserve.rest.predict_body import NUMBER_ARRAY_MIN_BYTES, parse_predict_body
from tensorserve.rest.predict_request import RequestFormat, decode_predict_inputs
from tensorserve.servables.dtypes import DataType as T

IMAGES = {"images": T.DT_FLOAT}
DTYPES = [
    T.DT_FLOAT,
    T.DT_DOUBLE,
    T.DT_INT32,
    T.DT_INT64,
    T.DT_INT8,
    T.DT_INT16,
    T.DT_UINT8,
    T.DT_UINT32,
    T.DT_UINT64,
    T.DT_BOOL,
    T.DT_STRING,
    T.DT_HALF,
]


def _general(body: bytes, dtypes: Mapping[str, T]) -> tuple[str, RequestFormat, Any]:
    document, signature_name = parse_request_object(body)
    may_hold_bools = b"true" in body or b"false" in body
    inputs, request_format = decode_predict_inputs(
        document, signature_name, dtypes, may_hold_bools=may_hold_bools
    )
    return signature_name, request_format, inputs


def _fast(body: bytes, dtypes: Mapping[str, T]) -> tuple[str, RequestFormat, Any]:
    request = parse_predict_body(body)
    return request.signature_name, request.request_format, request.decode(dtypes)


def _outcome(decode: Callable[[], tuple[str, RequestFormat, Any]]) -> tuple[Any, ...]:
    try:
        signature_name, request_format, inputs = decode()
    except ServingError as error:
        return ("error", type(error).__name__, error.message)
    tensors = {
        name: (
            array.dtype.str,
            array.shape,
            array.tolist() if array.dtype == object else array.tobytes(),
        )
        for name, array in inputs.items()
    }
    return ("ok", signature_name, request_format, tensors)


def _padded(body: bytes) -> bytes:
    """``body`` with trailing whitespace, so that small bodies reach the number-array path."""
    return body + b" " * NUMBER_ARRAY_MIN_BYTES


def _assert_same(body: bytes, dtypes: Mapping[str, T]) -> None:
    body = _padded(body)
    expected = _outcome(lambda: _general(body, dtypes))
    assert _outcome(lambda: _fast(body, dtypes)) == expected, body[:300]


def _image_body(key: str = "instances", batch: int = 32) -> bytes:
    pixels = np.round(np.random.default_rng(1).random((batch, 4, 4, 1)), 3)
    return json.dumps({key: pixels.tolist()}).encode()


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_image_batch_takes_the_number_array_path(key: str) -> None:
    body = _image_body(key)
    request = parse_predict_body(body)
    assert request.is_number_array
    inputs = request.decode(IMAGES)
    assert inputs["images"].dtype == np.float32 and inputs["images"].shape == (32, 4, 4, 1)
    _assert_same(body, IMAGES)


def test_small_bodies_go_the_general_way() -> None:
    assert not parse_predict_body(b'{"instances": [1.0]}').is_number_array
    assert parse_predict_body(_padded(b'{"instances": [1.0]}')).is_number_array


def test_format_follows_the_key() -> None:
    assert parse_predict_body(_image_body("instances")).request_format is RequestFormat.ROW
    assert parse_predict_body(_image_body("inputs")).request_format is RequestFormat.COLUMNAR


@pytest.mark.parametrize(
    "body",
    [
        b'{"signature_name": "serving_default", "instances": [[1.5, 2]]}',
        b'{"instances": [[1.5, 2]], "signature_name": "caf\xc3\xa9"}',
        b' {\n"inputs" :[1,2,3]\t}\n',
    ],
)
def test_signature_name_and_whitespace_are_read(body: bytes) -> None:
    assert parse_predict_body(_padded(body)).is_number_array
    _assert_same(body, IMAGES)


@pytest.mark.parametrize(
    "body",
    [
        b'{"signature_name": "a", "instances": [1], "signature_name": "b"}',
        b'{"instances": [1], "instances": [2]}',
        b'{"instances": [1], "inputs": [2]}',
        b'{"instances": [1], "other": 1}',
        b'{"signature_name": "a\\"b", "instances": [1]}',
        b'{"signature_name": "\xff", "instances": [1]}',
        b'{"instances": [1]} trailing',
        b'{"instances": [[1, 2], [3]]}',
        b'{"instances": [true, 1]}',
        b'{"instances": []}',
        b'{"inputs": 1}',
    ],
)
def test_other_bodies_go_the_general_way_with_its_answer(body: bytes) -> None:
    assert not parse_predict_body(_padded(body)).is_number_array
    for dtype in DTYPES:
        _assert_same(body, {"x": dtype})


@pytest.mark.parametrize(
    "body", [b"", b"[1]", b'{"instances": [1,]}', b'{"signature_name": 1, "instances": [1]}']
)
def test_parse_errors_are_the_general_ones(body: bytes) -> None:
    body = _padded(body)
    with pytest.raises(ServingError) as general:
        parse_request_object(body)
    with pytest.raises(ServingError) as fast:
        parse_predict_body(body)
    assert fast.value.message == general.value.message


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "array",
    [
        "[1, 2, 3]",
        "[1.5, -0.0, -0]",
        "[1e5, 1E-5, 2.5e+3]",
        "[2147483647, -2147483648]",
        "[2147483648]",
        "[-2147483649]",
        "[255, 256, -1]",
        "[4294967295, 4294967296]",
        "[9223372036854775807]",
        "[9223372036854775808]",
        "[18446744073709551615]",
        "[18446744073709551616]",
        "[-9223372036854775809]",
        "[3.4028235e38, 3.5e38, 1e-46]",
        "[1e308, 1e-320]",
        "[16777217, 0.5]",
        "[16777217]",
        "[[1, 2], [3, 4]]",
    ],
)
@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_number_edges_match_the_general_path(key: str, array: str, dtype: T) -> None:
    body = f'{{"{key}": {array}}}'.encode()
    _assert_same(body, {"x": dtype})


def test_several_inputs_get_the_general_error() -> None:
    body = _image_body()
    _assert_same(body, {"a": T.DT_FLOAT, "b": T.DT_FLOAT})
    _assert_same(body, {})


class Raw(str):
    """A token written as is (numbers in unusual spellings, NaN, bad tokens)."""


_NUMBERS = st.one_of(
    st.integers(-(2**66), 2**66),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([0, -0.0, 127, 128, 255, 256, -129, 2**31 - 1, 2**31, 2**63, 2**64 - 1]),
    st.sampled_from(["-0", "0e0", "1E5", "2.50e-3", "1e+2", "-1.0E-400", "1e400", "01", "1."]).map(
        Raw
    ),
)
_OTHER_LEAVES = st.one_of(
    st.booleans(),
    st.none(),
    st.text(max_size=2),
    st.just({"b64": "AAE="}),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(Raw),
)


def _nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def fill(shape: list[int]) -> st.SearchStrategy[Any]:
        if not shape:
            return leaves
        return st.lists(fill(shape[1:]), min_size=shape[0], max_size=shape[0])

    regular = st.lists(st.integers(0, 3), max_size=4).flatmap(fill)
    ragged = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=10)
    mutated = st.builds(_mutate, regular, st.randoms(use_true_random=False), leaves)
    return st.one_of(regular, regular, mutated, mutated, ragged)


def _mutate(value: Any, rng: Any, leaf: Any) -> Any:
    """``value`` with one list or leaf changed: almost regular, the hardest case to judge."""
    if not isinstance(value, list) or not value:
        return value
    parent, index = value, rng.randrange(len(value))
    while isinstance(parent[index], list) and parent[index] and rng.random() < 0.7:
        parent, index = parent[index], rng.randrange(len(parent[index]))
    action = rng.randrange(5)
    if action == 0:
        parent[index] = [parent[index]]  # one level deeper
    elif action == 1:
        del parent[index]  # one element fewer
    elif action == 2:
        parent.insert(index, leaf if rng.random() < 0.5 else parent[index])  # one more
    elif action == 3 and isinstance(parent[index], list) and parent[index]:
        parent[index] = parent[index][0]  # one level shallower
    else:
        parent[index] = leaf
    return value


def _dumps(value: Any, space: str) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, list):
        return "[" + space + ("," + space).join(_dumps(item, space) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps(v, space)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@settings(max_examples=600, deadline=None)
@given(
    value=_nested(st.one_of(_NUMBERS, _NUMBERS, _OTHER_LEAVES)),
    key=st.sampled_from(["instances", "inputs"]),
    space=st.sampled_from(["", " ", "\n "]),
    signature=st.sampled_from([None, "serving_default", "", "x y"]),
    signature_first=st.booleans(),
    dtype=st.sampled_from(DTYPES),
)
def test_fast_and_general_paths_agree_on_generated_bodies(
    value: Any, key: str, space: str, signature: str | None, signature_first: bool, dtype: T
) -> None:
    members = [f'"{key}":{space}{_dumps(value, space)}']
    if signature is not None:
        members.insert(0 if signature_first else 1, f'"signature_name": "{signature}"')
    body = ("{" + space + ("," + space).join(members) + space + "}").encode()
    _assert_same(body, {"x": dtype})


def test_named_inputs_take_the_number_array_path() -> None:
    images = np.round(np.random.default_rng(2).random((32, 4, 4, 1)), 3).tolist()
    body = json.dumps({"inputs": {"images": images, "scale": [[0.5]] * 32}}).encode()
    request = parse_predict_body(body)
    assert request.is_number_array and request.request_format is RequestFormat.COLUMNAR
    inputs = request.decode({"images": T.DT_FLOAT, "scale": T.DT_DOUBLE})
    assert inputs["images"].shape == (32, 4, 4, 1) and inputs["scale"].dtype == np.float64
    _assert_same(body, {"images": T.DT_FLOAT, "scale": T.DT_DOUBLE})
    _assert_same(body, {"images": T.DT_FLOAT})  # extra members are ignored, as TF Serving does
    _assert_same(body, {"images": T.DT_FLOAT, "missing": T.DT_FLOAT})
    _assert_same(body, {"scale": T.DT_INT32})


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": {"a": [1], "a": [2]}}',
        b'{"inputs": {"a": [1], "b": "text"}}',
        b'{"inputs": {"a": [1], "b": 2}}',
        b'{"inputs": {"a": [1],}}',
        b'{"inputs": {}}',
        b'{"inputs": {"a\\u0041": [1]}}',
        b'{"inputs": {"a": [1] "b": [2]}}',
        b'{"inputs": {"a": [1]}, "inputs": [2]}',
        b'{"instances": {"a": [1]}}',
        b'{"inputs": {"a": ["],\\"b\\": [1]}"]}}',
    ],
)
def test_other_named_bodies_go_the_general_way_with_its_answer(body: bytes) -> None:
    try:
        assert not parse_predict_body(_padded(body)).is_number_array
    except ServingError:
        pass  # not JSON: the general parser's error, compared below
    for dtypes in ({"a": T.DT_FLOAT}, {"a": T.DT_FLOAT, "b": T.DT_INT64}, {}):
        _assert_same(body, dtypes)


@settings(max_examples=300, deadline=None)
@given(
    members=st.dictionaries(
        st.sampled_from(["x", "y", "b64", "signature_name"]),
        _nested(st.one_of(_NUMBERS, _NUMBERS, _OTHER_LEAVES)),
        min_size=1,
        max_size=3,
    ),
    wanted=st.dictionaries(
        st.sampled_from(["x", "y", "b64", "z"]), st.sampled_from(DTYPES), max_size=3
    ),
    space=st.sampled_from(["", " ", "\n "]),
    signature_first=st.booleans(),
)
def test_fast_and_general_paths_agree_on_generated_named_inputs(
    members: dict[str, Any], wanted: dict[str, T], space: str, signature_first: bool
) -> None:
    inner = ("," + space).join(
        f'"{name}":{space}{_dumps(value, space)}' for name, value in members.items()
    )
    parts = [f'"inputs": {{{space}{inner}{space}}}', '"signature_name": "s"']
    if signature_first:
        parts.reverse()
    body = ("{" + space + ("," + space).join(parts) + "}").encode()
    _assert_same(body, dict(sorted(wanted.items())))
