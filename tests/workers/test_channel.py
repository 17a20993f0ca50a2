"""The worker channel carries the data plane's values intact and fails loudly at its ends."""

from __future__ import annotations

import asyncio
import types

import numpy as np
import pytest

from tensorserve.dataplane import ModelSpec
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.workers.channel import MessageStream, encode


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close


def _feed(stream: MessageStream, data: bytes, chunk: int) -> None:
    """What the transport does: read into the stream's buffer, ``chunk`` bytes at a time."""
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        buffer = stream.get_buffer(len(piece))
        buffer[: len(piece)] = piece
        stream.buffer_updated(len(piece))


def _read(*frames: bytes, eof: bool = True, chunk: int = 7) -> list[object]:
    async def scenario() -> list[object]:
        stream = MessageStream()
        stream.connection_made(FakeTransport())  # type: ignore[arg-type]
        _feed(stream, b"".join(frames), chunk)
        if eof:
            stream.eof_received()
        return [await stream.next() for _ in frames]

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


def test_a_message_cut_short_ends_the_stream() -> None:
    frame = encode({"x": np.zeros(1000)})
    with pytest.raises(ConnectionError):
        _read(frame[: len(frame) // 2])


@pytest.mark.parametrize("chunk", [1 << 16, 1000])
def test_frames_larger_than_the_buffer_and_split_anywhere_arrive_whole(chunk: int) -> None:
    big = np.arange(300_000, dtype=np.float64)  # 2.4 MB: the read buffer must grow
    frames = [encode((1, "ok", big)), encode((2, "ok", "small")), encode((3, "ok", big[:5]))]
    back = _read(*frames, chunk=chunk)
    assert [rid for rid, _kind, _payload in back] == [1, 2, 3]  # type: ignore[misc]
    np.testing.assert_array_equal(back[0][2], big)  # type: ignore[index]
    np.testing.assert_array_equal(back[2][2], big[:5])  # type: ignore[index]


def test_sends_in_one_loop_iteration_leave_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        stream = MessageStream()
        transport = FakeTransport()
        stream.connection_made(transport)  # type: ignore[arg-type]
        stream.send((1, "ok", "a"))
        stream.send((2, "ok", "b"))
        await asyncio.sleep(0)
        stream.send((3, "ok", "c"))
        await stream.drain()
        return transport.written

    written = asyncio.run(scenario())
    assert written == [encode((1, "ok", "a")) + encode((2, "ok", "b")), encode((3, "ok", "c"))]


def test_an_absurd_length_drops_the_connection() -> None:
    with pytest.raises(ConnectionError):
        _read(b"\xff" * 8 + b"junk", eof=False)


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
