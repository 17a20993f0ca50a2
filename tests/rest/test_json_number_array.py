import concurrent.futures
import json
import os
import threading
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.rest.json_number_array import parse_number_array


def _parse(text: str) -> np.ndarray | None:
    return parse_number_array(text.encode())


def test_image_batch_gives_its_shape_and_float64_values() -> None:
    pixels = np.round(np.random.default_rng(0).random((2, 3, 4, 1)), 3)
    values = _parse(json.dumps(pixels.tolist()))
    assert values is not None
    assert values.shape == (2, 3, 4, 1) and values.dtype == np.float64
    np.testing.assert_array_equal(values, pixels)


def test_integers_stay_integers_as_numpy_infers_them() -> None:
    values = _parse("[[1, 2], [3, -4]]")
    assert values is not None and values.dtype == np.int64
    assert values.tolist() == [[1, 2], [3, -4]]


def test_whitespace_anywhere_between_tokens_is_accepted() -> None:
    values = _parse(" [ \n[ 1 ,\t2 ] ,\r\n[3,4]\n]"[1:])
    assert values is not None and values.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "text",
    [
        "[[1,2],[3]]",  # ragged
        "[[1,2],[3,4,5]]",  # ragged the other way
        "[[1,2,3],[4]]",  # same comma count as [[1,2],[3,4]], but ragged
        "[[1,2],[3,4,5],[6]]",  # 6 numbers, as a [3,2] array would have
        "[1,[2]]",  # a list beside a number
        "[[1],2]",
        "[]",
        "[[],[]]",
        "[[1],[]]",
        "[1,]",
        "[,1]",
        "[1,,2]",
        "[[1][2]]",
        "[[1,2][,3,4]]",  # a missing comma hidden by a leading one
        "[[1]2]",
        "[1[2]]",
        "[1 2]",
        "[true]",
        "[1,false]",
        "[null]",
        "[NaN]",
        "[Infinity]",
        "[-Infinity]",
        '["1"]',
        '[{"b64": "AA=="}]',
        "[01]",
        "[+1]",
        "[.5]",
        "[1.]",
        "[1e]",
        "[--1]",
        "[1e400]",  # beyond a double: the general path's error
        "[[1,2]",  # never closes
        "[[1,2]]]",  # closes once too often
        "[[1,2],3[,4]]",  # a number moved out of its leaf slot: the skeleton stays regular
        "[[1,2],[3,4]5]",
        "[[]]",
        "[[],[5]]",
        "1",
        "",
        "[" * 65 + "1" + "]" * 65,  # beyond numpy's rank limit
    ],
)
def test_anything_not_a_plain_rectangular_number_array_is_declined(text: str) -> None:
    assert _parse(text) is None


def test_deepest_rank_numpy_allows_is_accepted() -> None:
    values = _parse("[" * 64 + "1" + "]" * 64)
    assert values is not None and values.shape == (1,) * 64


def test_exponents_negative_zero_and_big_integers_read_as_orjson_reads_them() -> None:
    values = _parse("[-0, -0.0, 1E5, 2e-3, 1.5E+2, 18446744073709551615]")
    assert values is not None
    # 2**64 - 1 does not fit int64 with the floats beside it: numpy makes it all float64.
    assert values.dtype == np.float64
    assert np.signbit(values[1]) and not np.signbit(values[0])
    assert values[2:5].tolist() == [1e5, 2e-3, 150.0]


def _nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    shapes = st.lists(st.integers(0, 3), min_size=0, max_size=4)

    def fill(shape: list[int]) -> st.SearchStrategy[Any]:
        if not shape:
            return leaves
        return st.lists(fill(shape[1:]), min_size=shape[0], max_size=shape[0])

    regular = shapes.flatmap(fill)
    ragged = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=12)
    return st.one_of(regular, ragged)


_NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 255, 256, 2**31, -(2**31) - 1, 2**63, 2**64 - 1]),
)
_LEAVES = st.one_of(_NUMBERS, st.booleans(), st.none(), st.text(max_size=2))


@pytest.mark.parametrize("text", ["[9223372036854775808]", "[1, 9223372036854775808]"])
def test_integers_alone_past_int64_are_left_to_the_general_path(text: str) -> None:
    # numpy makes the first uint64 and the second float64: the general path decides.
    assert _parse(text) is None


def test_the_array_is_writable_and_owns_its_memory() -> None:
    values = _parse("[[1.5, 2.5], [3.5, 4.5]]")
    assert values is not None and values.flags.writeable
    values[0, 0] = 0.0
    assert values.tolist() == [[0.0, 2.5], [3.5, 4.5]]


def test_a_refused_text_leaves_the_thread_able_to_parse_the_next() -> None:
    for refused in ("[1e400]", "[-9223372036854775809]", "[[1,2]", "[1 2]"):
        assert _parse(refused) is None
        values = _parse("[[1, 2], [3, 4]]")
        assert values is not None and values.tolist() == [[1, 2], [3, 4]]


def _resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_a_large_text_does_not_leave_its_buffers_in_the_thread() -> None:
    # A kept parser holds buffers sized to the largest text it parsed (~5x): 25 MB of
    # numbers left 160 MB in the thread (23 MB with a parser of its own).
    text = ("[" + ",".join(["0.5"] * 6_000_000) + "]").encode()
    grown: list[float] = []

    def parse_in_thread() -> None:
        assert parse_number_array(b"[1.5]") is not None  # the thread's kept parser
        before = _resident_mb()
        values = parse_number_array(text)
        assert values is not None and values.shape == (6_000_000,)
        del values
        grown.append(_resident_mb() - before)

    worker = threading.Thread(target=parse_in_thread)
    worker.start()
    worker.join()
    assert grown and grown[0] < 80, f"{grown[0]:.0f} MB left after the parse"


def test_threads_parsing_at_once_each_get_their_own_array() -> None:
    texts = {n: json.dumps(np.full((8, 50), n + 0.5).tolist()) for n in range(8)}

    def parse_many(n: int) -> bool:
        return all(
            (values := _parse(texts[n])) is not None and bool((values == n + 0.5).all())
            for _ in range(200)
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(parse_many, range(8)))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _dumps(value: Any, space: str) -> str:
    if isinstance(value, list):
        return "[" + space + ("," + space).join(_dumps(item, space) for item in value) + "]"
    return json.dumps(value)


@settings(max_examples=400, deadline=None)
@given(value=_nested(_LEAVES), space=st.sampled_from(["", " ", "\n  "]))
def test_accepted_arrays_equal_numpy_over_the_parsed_lists(value: Any, space: str) -> None:
    text = _dumps(value, space)
    values = _parse(text)
    if values is None:
        return
    # orjson is what parses every well-formed body (it reads integers past 64 bits as floats).
    expected = np.asarray(orjson.loads(text))
    assert values.dtype == expected.dtype and values.shape == expected.shape
    assert values.tobytes() == expected.tobytes()


@settings(max_examples=200, deadline=None)
@given(value=_nested(_NUMBERS).filter(lambda v: isinstance(v, list)))
def test_every_regular_nonempty_number_array_within_64_bits_is_taken(value: Any) -> None:
    try:
        expected = np.asarray(value)
    except ValueError:
        return  # ragged
    if expected.size == 0 or expected.dtype == object:
        return
    if expected.dtype != np.int64 and not any(isinstance(x, float) for x in _leaves(value)):
        return  # integers alone, one past int64: left to the general path
    values = _parse(json.dumps(value))
    assert values is not None, json.dumps(value)
    assert values.tobytes() == expected.tobytes()
