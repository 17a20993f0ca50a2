"""The model process of the hop benchmark: answers frames on a Unix socket.

Run as ``python -m harness.hop_model_side SOCKET_PATH MODE`` (``benchmarks/`` on the
path); prints ``ready`` once it listens and serves until killed. Whatever has arrived
on a connection is read at once, every complete frame in it answered with the stand-in
model, and all the answers written with one write: a connection multiplexed by an
asyncio worker (several requests in flight) costs one read and one write per burst, a
connection per caller thread one of each per request. MODE:

* ``asyncio`` - one uvloop event loop for every connection, as the server's model
  process would receive forwarded requests beside its own transports; a
  ``BufferedProtocol`` reading into a preallocated buffer (``data_received`` cost the
  100 KB requests 265 µs a round trip against 72 with threads: a new bytes object per
  read and the partial frames copied again);
* ``threads`` - a thread per connection with blocking reads.

A shared-memory connection starts with a HELLO frame naming the segment, which this
process maps from ``/dev/shm`` itself, so no resource tracker here claims (and
unlinks) the segment that the worker side owns.
"""

from __future__ import annotations

import asyncio
import mmap
import socket
import sys
import threading
from pathlib import Path

import numpy as np

from harness import parent_watch
from harness.hop_frames import (
    HEADER,
    HELLO,
    INLINE,
    pack_header,
    slot_input,
    slot_output,
    stand_in_model,
    unpack_header,
)

RECEIVE_BYTES = 512 * 1024


class FrameAnswerer:
    """Answers the complete frames at the front of a buffer, for one connection."""

    def __init__(self) -> None:
        self._shared: memoryview | None = None

    def answer(self, data: bytes | bytearray, end: int) -> tuple[int, list[bytes]]:
        """(bytes consumed, answers) for the frames in ``data[:end]``; keeps no view."""
        start, answers = 0, []
        while end - start >= HEADER.size:
            header = unpack_header(data, start)
            inline = header.slot in (INLINE, HELLO)
            frame_end = start + HEADER.size + (header.nbytes if inline else 0)
            if frame_end > end:
                break
            if header.slot == HELLO:
                name = bytes(data[start + HEADER.size : frame_end]).decode()
                with Path(f"/dev/shm/{name}").open("r+b") as file:
                    self._shared = memoryview(mmap.mmap(file.fileno(), 0))
            elif header.slot == INLINE:
                count = header.nbytes // 4
                x = np.frombuffer(data, np.float32, count, start + HEADER.size)
                y = stand_in_model(x.reshape(header.shape))
                del x  # no view of ``data`` may outlive this call
                answers.append(pack_header(header.request_id, INLINE, y.nbytes, y.shape))
                answers.append(y.tobytes())
            else:
                assert self._shared is not None, "a slot frame before HELLO"
                y = stand_in_model(slot_input(self._shared, header.slot, header.shape))
                slot_output(self._shared, header.slot, y.shape)[...] = y
                answers.append(pack_header(header.request_id, header.slot, 0, y.shape))
            start = frame_end
        return start, answers


def serve_connection(connection: socket.socket) -> None:
    """Answer frames on ``connection`` until the peer closes it (a thread each)."""
    buffer = bytearray(RECEIVE_BYTES)
    view = memoryview(buffer)
    answerer = FrameAnswerer()
    filled = 0
    with connection:
        while True:
            received = connection.recv_into(view[filled:])
            if received == 0:
                return
            filled += received
            consumed, answers = answerer.answer(buffer, filled)
            if answers:
                connection.sendall(b"".join(answers))
            if consumed == filled:
                filled = 0
            elif consumed:  # keep the partial frame, at the front
                buffer[: filled - consumed] = buffer[consumed:filled]
                filled -= consumed


def serve_threads(path: str) -> None:
    """Listen on the Unix socket ``path``; a thread per connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(64)
        print("ready", flush=True)
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=serve_connection, args=(connection,), daemon=True).start()


class ModelSideProtocol(asyncio.BufferedProtocol):
    """One connection on the event loop, read straight into a preallocated buffer."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray(RECEIVE_BYTES)
        self._view = memoryview(self._buffer)
        self._filled = 0
        self._answerer = FrameAnswerer()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view[self._filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self._filled += nbytes
        consumed, answers = self._answerer.answer(self._buffer, self._filled)
        if answers:
            assert self._transport is not None
            self._transport.write(b"".join(answers))
        if consumed == self._filled:
            self._filled = 0
        elif consumed:  # keep the partial frame, at the front
            self._buffer[: self._filled - consumed] = self._buffer[consumed : self._filled]
            self._filled -= consumed


async def serve_asyncio(path: str) -> None:
    """Listen on the Unix socket ``path``; every connection on this loop."""
    server = await asyncio.get_running_loop().create_unix_server(ModelSideProtocol, path)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parent_watch.exit_with_parent()
    if sys.argv[2] == "threads":
        serve_threads(sys.argv[1])
    else:
        import uvloop

        uvloop.run(serve_asyncio(sys.argv[1]))
