"""The model process of the hop benchmark: answers frames on a Unix socket.

Run as ``python -m harness.hop_model_side SOCKET_PATH`` (``benchmarks/`` on the path);
prints ``ready`` once it listens and serves until killed. One thread per connection
reads whatever has arrived, answers every complete frame in it with the stand-in model
and writes all the answers with one ``sendall``: a connection multiplexed by an asyncio
worker (several requests in flight) costs one read and one write per burst, a
connection per caller thread one of each per request.

A shared-memory connection starts with a HELLO frame naming the segment, which this
process maps from ``/dev/shm`` itself, so no resource tracker here claims (and
unlinks) the segment that the worker side owns.
"""

from __future__ import annotations

import mmap
import socket
import sys
import threading
from pathlib import Path

import numpy as np

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


def serve_connection(connection: socket.socket) -> None:
    """Answer frames on ``connection`` until the peer closes it."""
    buffer = bytearray(RECEIVE_BYTES)
    view = memoryview(buffer)
    shared: memoryview | None = None
    filled = 0
    with connection:
        while True:
            received = connection.recv_into(view[filled:])
            if received == 0:
                return
            filled += received
            start, answers = 0, []
            while filled - start >= HEADER.size:
                header = unpack_header(buffer, start)
                payload_bytes = header.nbytes if header.slot in (INLINE, HELLO) else 0
                end = start + HEADER.size + payload_bytes
                if end > filled:
                    break
                if header.slot == HELLO:
                    name = bytes(view[start + HEADER.size : end]).decode()
                    with Path(f"/dev/shm/{name}").open("r+b") as file:
                        shared = memoryview(mmap.mmap(file.fileno(), 0))
                elif header.slot == INLINE:
                    x = np.frombuffer(view[start + HEADER.size : end], dtype=np.float32)
                    y = stand_in_model(x.reshape(header.shape))
                    answers.append(pack_header(header.request_id, INLINE, y.nbytes, y.shape))
                    answers.append(y.tobytes())
                else:
                    assert shared is not None, "a slot frame before HELLO"
                    y = stand_in_model(slot_input(shared, header.slot, header.shape))
                    slot_output(shared, header.slot, y.shape)[...] = y
                    answers.append(pack_header(header.request_id, header.slot, 0, y.shape))
                start = end
            if answers:
                connection.sendall(b"".join(answers))
            if start == filled:
                filled = 0
            elif start:  # keep the partial frame, at the front
                buffer[: filled - start] = buffer[start:filled]
                filled -= start


def serve(path: str) -> None:
    """Listen on the Unix socket ``path``; a thread per connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(64)
        print("ready", flush=True)
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=serve_connection, args=(connection,), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1])
