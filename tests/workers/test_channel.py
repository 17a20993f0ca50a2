"""The worker channel carries the data plane's values intact and fails loudly at its ends."""

from __future__ import annotations

import asyncio
import types

import numpy as np
import pytest

from tensorserve.dataplane import ModelSpec
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.workers.channel import encode, read_message


def _read(*frames: bytes, eof: bool = True) -> list[object]:
    async def scenario() -> list[object]:
        reader = asyncio.StreamReader()
        for frame in frames:
            reader.feed_data(frame)
        if eof:
            reader.feed_eof()
        return [await read_message(reader) for _ in frames]

    return asyncio.run(scenario())


def test_arrays_specs_and_signatures_arrive_equal_and_arrays_writable() -> None:
    signature = Signature(
        "serving_default",
        PREDICT_METHOD,
        types.MappingProxyType({"x": TensorInfo("x:0", DataType.DT_FLOAT, (-1, 3))}),
        types.MappingProxyType({"y": TensorInfo("y:0", DataType.DT_FLOAT, None)}),
        defaults=types.MappingProxyType({"k": np.array(3, np.int64)}),
    )
    array = np.arange(12, dtype=np.float32).reshape(4, 3)
    strings = np.array([b"a", b"\x00b"], dtype=object)
    message = (7, "call", ("predict", (ModelSpec("m", version=2), {"x": array, "s": strings})))
    signature_back, (rid, kind, (op, (spec, inputs))) = _read(encode(signature), encode(message))
    assert signature_back == signature
    assert isinstance(signature_back.inputs, types.MappingProxyType)  # type: ignore[attr-defined]
    assert (rid, kind, op, spec) == (7, "call", "predict", ModelSpec("m", version=2))
    np.testing.assert_array_equal(inputs["x"], array)
    assert inputs["x"].dtype == np.float32 and inputs["x"].flags.writeable
    assert list(inputs["s"]) == [b"a", b"\x00b"]


def test_a_message_cut_short_is_an_incomplete_read() -> None:
    frame = encode({"x": np.zeros(1000)})
    with pytest.raises(asyncio.IncompleteReadError):
        _read(frame[: len(frame) // 2])


def test_an_absurd_length_drops_the_connection() -> None:
    with pytest.raises(ConnectionError):
        _read(b"\xff" * 8 + b"junk")


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5, np.float64),
        np.zeros((0, 3), np.int32),
        np.arange(12, dtype=">i4").reshape(3, 4)[:, ::2],
        np.array([True, False]),
        np.array(["ab", "c"], dtype="<U2"),
    ],
    ids=["scalar", "empty", "big-endian-strided", "bool", "unicode"],
)
def test_every_numeric_layout_arrives_equal_writable_and_contiguous(array: np.ndarray) -> None:
    [back] = _read(encode(array))
    assert isinstance(back, np.ndarray)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable and back.flags.c_contiguous
