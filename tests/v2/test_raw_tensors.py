import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tensorserve.core.errors import InvalidArgument
from tensorserve.v2.datatypes import BY_NAME
from tensorserve.v2.raw_tensors import decode_raw, encode_raw

FIXED = ["UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32"]


@pytest.mark.parametrize("name", [*FIXED, "FP64", "BF16"])
def test_fixed_width_round_trip(name: str) -> None:
    datatype = BY_NAME[name]
    array = np.arange(6).astype(datatype.numpy).reshape(2, 3)
    data = encode_raw(array, datatype)
    assert len(data) == 6 * datatype.itemsize
    decoded = decode_raw(data, datatype, [2, 3], "x")
    assert decoded.dtype == datatype.numpy
    np.testing.assert_array_equal(decoded.astype(np.float64), array.astype(np.float64))


def test_layout_is_little_endian() -> None:
    assert encode_raw(np.array([1], np.int32), BY_NAME["INT32"]) == b"\x01\x00\x00\x00"
    decoded = decode_raw(b"\x00\x00\x80\x3f", BY_NAME["FP32"], [1], "x")
    assert decoded.tolist() == [1.0]


def test_bool_is_one_byte_each() -> None:
    datatype = BY_NAME["BOOL"]
    assert encode_raw(np.array([True, False, True]), datatype) == b"\x01\x00\x01"
    assert decode_raw(b"\x01\x00\x01", datatype, [3], "b").tolist() == [True, False, True]


def test_bytes_elements_are_length_prefixed() -> None:
    datatype = BY_NAME["BYTES"]
    data = encode_raw(np.array([b"ab", b"", "é"], dtype=object), datatype)
    assert data == b"\x02\x00\x00\x00ab" + b"\x00\x00\x00\x00" + b"\x02\x00\x00\x00\xc3\xa9"
    decoded = decode_raw(data, datatype, [3, 1], "s")
    assert decoded.shape == (3, 1)
    assert decoded.ravel().tolist() == [b"ab", b"", "é".encode()]


@given(st.lists(st.binary(max_size=20), max_size=10))
def test_bytes_round_trip(values: list[bytes]) -> None:
    datatype = BY_NAME["BYTES"]
    array = np.array([*values, b""], dtype=object)[: len(values)]
    decoded = decode_raw(encode_raw(array, datatype), datatype, [len(values)], "s")
    assert decoded.tolist() == values


@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=4)))
def test_fp32_round_trip_keeps_every_bit(array: np.ndarray) -> None:
    datatype = BY_NAME["FP32"]
    decoded = decode_raw(encode_raw(array, datatype), datatype, list(array.shape), "x")
    assert decoded.tobytes() == array.tobytes()


def test_a_short_buffer_names_the_sizes() -> None:
    with pytest.raises(
        InvalidArgument, match="unexpected total byte size 7 for input 'x', expecting 8"
    ):
        decode_raw(b"\x00" * 7, BY_NAME["FP32"], [2], "x")


def test_negative_dimensions_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="negative dimension"):
        decode_raw(b"", BY_NAME["FP32"], [-1], "x")


@pytest.mark.parametrize(
    "data",
    [
        b"\x05\x00\x00\x00ab",  # claims 5 bytes, has 2
        b"\x01\x00\x00",  # a length cut short
        struct.pack("<I", 1) + b"a" + b"extra",  # trailing bytes
    ],
)
def test_malformed_bytes_data_is_a_client_error(data: bytes) -> None:
    with pytest.raises(InvalidArgument):
        decode_raw(data, BY_NAME["BYTES"], [1], "s")


def test_a_huge_bytes_shape_is_refused_before_allocating() -> None:
    with pytest.raises(InvalidArgument, match="BYTES input 's'"):
        decode_raw(b"\x00" * 8, BY_NAME["BYTES"], [2**20, 2**10], "s")


def test_an_absurd_shape_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="too large"):
        decode_raw(b"", BY_NAME["FP32"], [2**40, 2**40], "x")
