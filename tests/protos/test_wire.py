"""The few wire-format pieces written by hand agree with protobuf's own encoding."""

from __future__ import annotations

import pytest
from google.protobuf import wrappers_pb2
from tensorflow.core.framework import tensor_pb2

from tensorserve.protos.wire import length_delimited, varint


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**21, 19_267_584, 2**63 - 1])
def test_varint_is_protobufs(value: int) -> None:
    # UInt64Value's one field: tag 0x08, then the varint (absent for 0, the default).
    encoded = wrappers_pb2.UInt64Value(value=value).SerializeToString()
    assert encoded == (b"\x08" + varint(value) if value else b"")


def test_a_length_delimited_tag_is_protobufs() -> None:
    encoded = tensor_pb2.TensorProto(tensor_content=b"ab").SerializeToString()
    assert encoded == length_delimited(4) + varint(2) + b"ab"
    with pytest.raises(ValueError, match="more than one byte"):
        length_delimited(16)
