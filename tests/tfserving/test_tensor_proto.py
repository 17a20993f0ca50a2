"""numpy <-> TensorProto: round trips for every dtype, TF's decoding rules, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tensorflow.core.framework import tensor_pb2, types_pb2

from tensorserve.core.errors import InvalidArgument
from tensorserve.tfserving.tensor_proto import (
    ndarray_to_tensor_proto,
    tensor_proto_pieces,
    tensor_proto_to_ndarray,
)

NUMERIC_DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
    np.complex64,
    np.complex128,
]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def numeric_arrays() -> st.SearchStrategy[np.ndarray]:
    return st.sampled_from(NUMERIC_DTYPES).flatmap(
        lambda dtype: hnp.arrays(
            dtype, SHAPES, elements={"allow_nan": False} if np.dtype(dtype).kind in "fc" else None
        )
    )


def string_arrays() -> st.SearchStrategy[np.ndarray]:
    return SHAPES.flatmap(
        lambda shape: st.lists(
            st.binary(max_size=20), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))
        ).map(lambda values: _object_array(values, shape))
    )


def _object_array(values: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


@settings(max_examples=150, deadline=None)
@given(numeric_arrays(), st.booleans())
def test_numeric_arrays_round_trip(array: np.ndarray, as_tensor_content: bool) -> None:
    proto = ndarray_to_tensor_proto(array, as_tensor_content=as_tensor_content)
    wire = tensor_pb2.TensorProto.FromString(proto.SerializeToString())
    assert_same(tensor_proto_to_ndarray(wire), array)


@settings(max_examples=60, deadline=None)
@given(string_arrays(), st.booleans())
def test_string_arrays_round_trip_through_string_val(
    array: np.ndarray, as_tensor_content: bool
) -> None:
    proto = ndarray_to_tensor_proto(array, as_tensor_content=as_tensor_content)
    assert len(proto.string_val) == array.size and not proto.tensor_content
    assert_same(tensor_proto_to_ndarray(proto), array)


@settings(max_examples=100, deadline=None)
@given(st.one_of(numeric_arrays(), string_arrays()), st.booleans())
def test_tensorflow_reads_what_we_write(array: np.ndarray, as_tensor_content: bool) -> None:
    proto = ndarray_to_tensor_proto(array, as_tensor_content=as_tensor_content)
    decoded = tf.make_ndarray(proto)
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


@settings(max_examples=100, deadline=None)
@given(st.one_of(numeric_arrays(), string_arrays()))
def test_we_read_what_tensorflow_writes(array: np.ndarray) -> None:
    proto = tf.make_tensor_proto(array)
    decoded = tensor_proto_to_ndarray(proto)
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


@settings(max_examples=200, deadline=None)
@given(st.one_of(numeric_arrays(), string_arrays()), st.booleans(), st.booleans())
def test_the_wire_pieces_are_the_messages_bytes(
    array: np.ndarray, as_tensor_content: bool, strided: bool
) -> None:
    """Joined, the pieces are byte for byte what protobuf writes for the message, for every
    dtype, shape (empty and scalar included) and memory layout."""
    if strided and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]  # a view that is not contiguous
    expected = ndarray_to_tensor_proto(array, as_tensor_content=as_tensor_content)
    joined = b"".join(tensor_proto_pieces(array, as_tensor_content=as_tensor_content))
    assert joined == expected.SerializeToString()


def test_the_wire_pieces_share_a_contiguous_arrays_buffer() -> None:
    array = np.ones((1000, 4), np.float32)
    values = tensor_proto_pieces(array)[-1]
    assert isinstance(values, memoryview) and np.shares_memory(np.asarray(values), array)


def test_outputs_use_typed_fields_by_default() -> None:
    assert list(ndarray_to_tensor_proto(np.array([1.5], np.float32)).float_val) == [1.5]
    assert list(ndarray_to_tensor_proto(np.array([7], np.uint8)).int_val) == [7]
    assert list(ndarray_to_tensor_proto(np.array([1.0], np.float16)).half_val) == [0x3C00]
    assert list(ndarray_to_tensor_proto(np.array(["é"])).string_val) == ["é".encode()]


def test_packed_fast_path_matches_field_numbers() -> None:
    fields = tensor_pb2.TensorProto.DESCRIPTOR.fields_by_name
    # The packed tags hard-code these numbers.
    assert [
        fields[name].number
        for name in ("float_val", "double_val", "scomplex_val", "bool_val", "dcomplex_val")
    ] == [5, 6, 9, 11, 12]


def proto(dtype: int, shape: tuple[int, ...], **fields: object) -> tensor_pb2.TensorProto:
    result = tensor_pb2.TensorProto(dtype=dtype, **fields)  # type: ignore[arg-type]
    for size in shape:
        result.tensor_shape.dim.add().size = size
    return result


def test_a_single_value_broadcasts_to_the_whole_shape() -> None:
    decoded = tensor_proto_to_ndarray(proto(types_pb2.DT_FLOAT, (2, 3), float_val=[7.0]))
    assert_same(decoded, np.full((2, 3), 7.0, np.float32))


def test_short_values_repeat_the_last_one_and_extra_values_are_ignored() -> None:
    short = tensor_proto_to_ndarray(proto(types_pb2.DT_INT32, (4,), int_val=[1, 2]))
    assert_same(short, np.array([1, 2, 2, 2], np.int32))
    long = tensor_proto_to_ndarray(proto(types_pb2.DT_INT64, (2,), int64_val=[1, 2, 3]))
    assert_same(long, np.array([1, 2], np.int64))


def test_no_values_mean_zeros() -> None:
    assert_same(tensor_proto_to_ndarray(proto(types_pb2.DT_DOUBLE, (2,))), np.zeros(2))
    strings = tensor_proto_to_ndarray(proto(types_pb2.DT_STRING, (2,)))
    assert strings.tolist() == [b"", b""]


def test_string_values_broadcast_too() -> None:
    decoded = tensor_proto_to_ndarray(proto(types_pb2.DT_STRING, (3,), string_val=[b"a", b"b"]))
    assert decoded.tolist() == [b"a", b"b", b"b"]


def test_string_tensor_content_uses_tensorflows_string_list_encoding() -> None:
    content = bytes([1, 3]) + b"a" + b"xyz"  # lengths as varints, then the bytes
    decoded = tensor_proto_to_ndarray(proto(types_pb2.DT_STRING, (2,), tensor_content=content))
    assert decoded.tolist() == [b"a", b"xyz"]


def test_narrow_ints_wrap_like_a_cpp_cast() -> None:
    decoded = tensor_proto_to_ndarray(proto(types_pb2.DT_INT8, (2,), int_val=[255, 128]))
    assert_same(decoded, np.array([-1, -128], np.int8))


@pytest.mark.parametrize(
    "bad",
    [
        proto(types_pb2.DT_FLOAT, (2,), tensor_content=b"\x00" * 7),
        proto(types_pb2.DT_BFLOAT16, (1,), half_val=[1]),
        proto(types_pb2.DT_RESOURCE, (1,)),
        proto(999, (1,)),
        proto(types_pb2.DT_FLOAT, (-1,)),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape={"unknown_rank": True}),
        proto(types_pb2.DT_STRING, (2,), tensor_content=b"\x05a"),
    ],
)
def test_malformed_protos_are_invalid_argument(bad: tensor_pb2.TensorProto) -> None:
    with pytest.raises(InvalidArgument):
        tensor_proto_to_ndarray(bad)


def test_unencodable_arrays_are_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        ndarray_to_tensor_proto(np.array(["2020-01-01"], dtype="datetime64[D]"))
    with pytest.raises(InvalidArgument):
        ndarray_to_tensor_proto(np.array([object()], dtype=object))


def test_numeric_tensor_content_is_decoded_without_copying() -> None:
    array = np.arange(1000, dtype=np.float32)
    decoded = tensor_proto_to_ndarray(ndarray_to_tensor_proto(array, as_tensor_content=True))
    assert not decoded.flags.writeable  # a view on the proto's bytes
    assert_same(decoded, array)


@pytest.mark.parametrize("dtype", [tf.float32, tf.string, tf.complex64])
def test_a_tiny_proto_cannot_be_filled_to_gigabytes(dtype: tf.DType) -> None:
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    for size in (100_000, 100_000):
        proto.tensor_shape.dim.add().size = size
    if dtype == tf.string:
        proto.string_val.append(b"x")
    elif dtype == tf.complex64:
        proto.scomplex_val.extend([1.0, 2.0])
    else:
        proto.float_val.append(1.0)
    with pytest.raises(InvalidArgument, match="over the 268435456 bytes"):
        tensor_proto_to_ndarray(proto)


def test_filling_below_the_cap_still_follows_tensorflow() -> None:
    proto = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum)
    proto.tensor_shape.dim.add().size = 1000
    proto.float_val.append(3.0)
    np.testing.assert_array_equal(tensor_proto_to_ndarray(proto), np.full(1000, 3.0, np.float32))


INT64_MAX = 2**63 - 1


@pytest.mark.parametrize(
    ("dtype", "shape", "message"),
    [
        # Issue 15: numpy's ValueErrors escaped as UNKNOWN.
        (types_pb2.DT_FLOAT, (1,) * 65, "has 65 dimensions; at most 64 are supported"),
        (types_pb2.DT_STRING, (1,) * 65, "has 65 dimensions; at most 64 are supported"),
        (types_pb2.DT_FLOAT, (1,) * 255, "has too many dimensions"),  # TF's own limit is 254
        (types_pb2.DT_FLOAT, (0, INT64_MAX), "is too large to hold"),
        (types_pb2.DT_STRING, (INT64_MAX, 0), "is too large to hold"),
        (types_pb2.DT_DOUBLE, (2**31, 2**31, 0, 4), "is too large to hold"),
        (types_pb2.DT_INT8, (INT64_MAX, INT64_MAX), "is too large to hold"),
    ],
)
def test_shapes_numpy_cannot_hold_are_invalid_argument(
    dtype: int, shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        tensor_proto_to_ndarray(proto(dtype, shape))


def test_an_empty_tensor_with_big_dims_still_decodes() -> None:
    assert tensor_proto_to_ndarray(proto(types_pb2.DT_FLOAT, (0, 2**40))).shape == (0, 2**40)
    assert tensor_proto_to_ndarray(proto(types_pb2.DT_FLOAT, (1,) * 64)).shape == (1,) * 64
