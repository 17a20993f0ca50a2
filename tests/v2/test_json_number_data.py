"""V2 JSON headers whose large ``data`` arrays are parsed natively: the same document,
tensors and errors as the general parse, only faster."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.json_document import parse_json
from tensorserve.v2.datatypes import parse_datatype
from tensorserve.v2.json_number_data import MIN_ARRAY_BYTES, parse_request_header
from tensorserve.v2.json_tensors import decode_json_data

PIXELS = np.round(np.random.default_rng(0).random((32, 28, 28, 1)), 3)


def _header(*inputs: dict[str, Any], **members: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **members}).encode()


def _image_input(nested: bool, **extra: Any) -> dict[str, Any]:
    data = PIXELS.tolist() if nested else PIXELS.ravel().tolist()
    return {"name": "images", "shape": [32, 28, 28, 1], "datatype": "FP32", "data": data, **extra}


def _decoded(document: Any, may_hold_bools: bool) -> list[Any]:
    """Each input's decoded tensor (dtype, shape, bytes), or its error text."""
    results: list[Any] = []
    for entry in document["inputs"]:
        try:
            array = decode_json_data(
                entry["data"],
                parse_datatype(entry["datatype"], entry["name"]),
                entry["shape"],
                entry["name"],
                may_hold_bools=may_hold_bools,
            )
        except InvalidArgument as error:
            results.append(str(error))
        else:
            results.append((array.dtype, array.shape, array.tobytes()))
    return results


def _without_data(document: Any) -> Any:
    return {
        **document,
        "inputs": [{k: v for k, v in e.items() if k != "data"} for e in document["inputs"]],
    }


def _assert_same_as_general(header: bytes) -> Any:
    """Parse both ways; everything but the data is equal, and the data decode alike."""
    try:
        general = parse_json(header)
    except InvalidArgument as error:
        with pytest.raises(InvalidArgument) as raised:
            parse_request_header(header)
        assert str(raised.value) == str(error)
        return None
    native = parse_request_header(header)
    assert _without_data(native) == _without_data(general)
    may_hold_bools = b"true" in header or b"false" in header
    assert _decoded(native, may_hold_bools) == _decoded(general, may_hold_bools)
    return native


@pytest.mark.parametrize("nested", [False, True])
def test_an_image_batch_arrives_as_one_numpy_array(nested: bool) -> None:
    header = _header(_image_input(nested), outputs=[{"name": "scores"}], id="r1")
    document = _assert_same_as_general(header)
    data = document["inputs"][0]["data"]
    assert isinstance(data, np.ndarray) and data.size == PIXELS.size
    assert document["outputs"] == [{"name": "scores"}] and document["id"] == "r1"


def test_several_inputs_each_get_their_array_and_small_ones_stay_lists() -> None:
    header = _header(
        _image_input(False),
        {"name": "ids", "shape": [2000], "datatype": "INT64", "data": list(range(2000))},
        {"name": "bias", "shape": [2], "datatype": "FP32", "data": [0.5, 1.5]},
    )
    document = _assert_same_as_general(header)
    kinds = [type(entry["data"]) for entry in document["inputs"]]
    assert kinds == [np.ndarray, np.ndarray, list]


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("INT32", [1.5, *range(2000)]),  # a float for an integer type
        ("INT32", [*range(1999), 2.0]),  # the first bad value is named, as before
        ("UINT8", list(range(2000))),  # out of range past 255
        ("INT8", [-129] + [0] * 2000),
        ("BOOL", [1, 0] * 1000),  # numbers are not booleans
        ("BYTES", list(range(2000))),
        ("FP16", [0.5] * 2000),  # no JSON form
        ("NOPE", [0.5] * 2000),  # no such datatype
    ],
)
def test_data_a_datatype_refuses_gets_the_general_error(datatype: str, data: list[Any]) -> None:
    header = _header({"name": "x", "shape": [len(data)], "datatype": datatype, "data": data})
    document = _assert_same_as_general(header)
    if document is not None:
        assert isinstance(document["inputs"][0]["data"], list)


def test_a_parameter_named_data_is_left_as_it_is() -> None:
    big = [0.25] * 2000
    header = _header(_image_input(False), parameters={"data": big})
    document = _assert_same_as_general(header)
    assert document["parameters"] == {"data": big}


def test_a_repeated_data_key_is_decided_by_the_general_parse() -> None:
    first = json.dumps([1.0] * 2000)
    second = json.dumps([2.0] * 2000)
    header = (
        '{"inputs": [{"name": "x", "shape": [2000], "datatype": "FP32", '
        f'"data": {first}, "data": {second}}}]}}'
    ).encode()
    document = _assert_same_as_general(header)
    assert np.asarray(document["inputs"][0]["data"]).tolist() == [2.0] * 2000


@pytest.mark.parametrize(
    "header",
    [
        # Invalid JSON outside the array: the general parser's message, positions and all.
        _header(_image_input(False))[:-1] + b",}",
        _header(_image_input(False)) + b"x",
        # An array that is not one: ragged, NaN tokens, a number too large for a double.
        _header({"name": "x", "shape": [2000], "datatype": "FP32", "data": [[0.5]] * 999 + [[]]}),
        _header({"name": "x", "shape": [2000], "datatype": "FP32", "data": [0.5] * 2000}).replace(
            b"0.5]", b"NaN]"
        ),
        _header({"name": "x", "shape": [2000], "datatype": "FP32", "data": [0.5] * 2000}).replace(
            b"0.5]", b"1e400]"
        ),
        # A marker's own spelling in the body: the header is not cut at all.
        _header(_image_input(False), id="\x00tensorserve-data-0"),
    ],
)
def test_what_the_native_path_cannot_vouch_for_is_parsed_generally(header: bytes) -> None:
    _assert_same_as_general(header)


def test_small_headers_are_parsed_generally() -> None:
    header = _header({"name": "x", "shape": [3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]})
    assert len(header) < MIN_ARRAY_BYTES
    assert parse_request_header(header) == parse_json(header)


_DATATYPES = st.sampled_from(["FP32", "FP64", "INT8", "INT32", "INT64", "UINT8", "UINT64", "BOOL"])
_NUMBERS = st.one_of(
    st.integers(-(2**65), 2**65),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0, 255, 256, -129, 2**31, 2**63 - 1, 2**63, -0.0, 1e-310]),
)
_LEAVES = st.one_of(_NUMBERS, _NUMBERS, _NUMBERS, st.booleans(), st.none(), st.text(max_size=2))


@st.composite
def _inputs(draw: st.DrawFn) -> dict[str, Any]:
    size = draw(st.sampled_from([3, 700, 1500]))
    # Numbers alone half the time: those are the arrays the native path takes.
    base = draw(st.lists(st.one_of(_NUMBERS, _LEAVES) if draw(st.booleans()) else _NUMBERS,
                         min_size=1, max_size=6))  # fmt: skip
    data: Any = (base * size)[:size]
    if size % 2 == 0 and draw(st.booleans()):
        data = [data[i : i + 2] for i in range(0, size, 2)]  # nested
    shape = [size] if draw(st.booleans()) else [size + draw(st.sampled_from([-1, 1]))]
    return {"name": draw(st.sampled_from(["a", "b", "data"])), "shape": shape,
            "datatype": draw(_DATATYPES), "data": data}  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    inputs=st.lists(_inputs(), min_size=1, max_size=3),
    space=st.sampled_from([None, (",", ":"), (", ", ": ")]),
    with_parameter=st.booleans(),
)
def test_any_header_parses_and_decodes_as_the_general_path_does(
    inputs: list[dict[str, Any]], space: tuple[str, str] | None, with_parameter: bool
) -> None:
    document: dict[str, Any] = {"inputs": inputs}
    if with_parameter:
        document["parameters"] = {"binary_data_output": True}
    header = json.dumps(document, separators=space, indent=None if space else 1).encode()
    _assert_same_as_general(header)
