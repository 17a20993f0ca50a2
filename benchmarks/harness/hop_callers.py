"""The worker side of the hop benchmark: callers, one cell's timing, the model process.

A cell is one mechanism at one concurrency on one tensor: ``concurrency`` callers call
back to back for ``seconds``; each call's round trip is timed, and the CPU of both
sides is read around the timed part (this process with ``time.process_time``, the
model process from ``/proc/<pid>/task/*/schedstat``, in nanoseconds).

* sync callers (the threaded gRPC server's handlers): one thread and one connection
  each, blocking calls;
* asyncio callers (the REST front end): coroutines on one uvloop loop sharing one
  connection, answers matched to requests by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.hop_frames import (
    HEADER,
    HELLO,
    INLINE,
    SLOT_BYTES,
    Header,
    pack_header,
    slot_input,
    slot_output,
    stand_in_model,
    unpack_header,
)

WARM_UP_CALLS = 50
WARM_UP_NS = 20_000_000
BENCHMARKS_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CellResult:
    """One cell's raw figures."""

    latencies_ns: list[int]
    worker_cpu_s: float
    model_cpu_s: float
    wall_s: float

    @property
    def calls(self) -> int:
        return len(self.latencies_ns)


class SyncCaller(Protocol):
    def call(self, x: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def process_cpu_s(pid: int) -> float:
    """CPU seconds of every living thread of ``pid`` (schedstat: nanosecond resolution)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


@contextlib.contextmanager
def model_process(cpu: int | None, mode: str) -> Iterator[tuple[int, str]]:
    """Start ``hop_model_side`` (``mode``) on a fresh socket, pinned to ``cpu``; (pid, path)."""
    with tempfile.TemporaryDirectory(prefix="hop-") as scratch:
        path = str(Path(scratch) / "model.sock")
        env = {**os.environ, "PYTHONPATH": f"{BENCHMARKS_DIR}{os.pathsep}"}
        process = subprocess.Popen(
            [sys.executable, "-m", "harness.hop_model_side", path, mode],
            stdin=subprocess.PIPE,  # closes when this process ends: the child exits
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            assert process.stdout is not None
            if process.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"the model process exited with {process.wait()}")
            if cpu is not None:
                os.sched_setaffinity(process.pid, {cpu})
            yield process.pid, path
        finally:
            process.kill()
            process.wait()


@contextlib.contextmanager
def slot_segment(slots: int) -> Iterator[shared_memory.SharedMemory]:
    """A shared-memory segment of ``slots`` slots, unlinked on every exit path."""
    segment = shared_memory.SharedMemory(create=True, size=slots * SLOT_BYTES)
    try:
        yield segment
    finally:
        segment.close()
        segment.unlink()


class InProcessCaller:
    """The reference: the stand-in model called in this thread."""

    def call(self, x: np.ndarray) -> np.ndarray:
        return stand_in_model(x)

    def close(self) -> None:
        pass


class SocketCaller:
    """One blocking connection; tensors inline, or in ``slot`` of a shared segment."""

    def __init__(self, path: str, segment: shared_memory.SharedMemory | None, slot: int) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.connect(path)
        self._buffer = bytearray(SLOT_BYTES)
        self._view = memoryview(self._buffer)
        self._shared = segment.buf if segment is not None else None
        self._slot = slot if segment is not None else INLINE
        if segment is not None:
            name = segment.name.encode()
            self._socket.sendall(pack_header(0, HELLO, len(name), ()) + name)

    def call(self, x: np.ndarray) -> np.ndarray:
        if self._shared is None:
            header = pack_header(1, INLINE, x.nbytes, x.shape)
            sent = self._socket.sendmsg([header, x.data])
            if sent < len(header) + x.nbytes:  # a partial write: send the rest
                self._socket.sendall((header + x.tobytes())[sent:])
        else:
            slot_input(self._shared, self._slot, x.shape)[...] = x
            self._socket.sendall(pack_header(1, self._slot, x.nbytes, x.shape))
        answer = self._receive()
        if self._shared is None:
            payload = self._view[HEADER.size : HEADER.size + answer.nbytes]
            return np.frombuffer(payload, dtype=np.float32).reshape(answer.shape).copy()
        return slot_output(self._shared, self._slot, answer.shape).copy()

    def _receive(self) -> Header:
        filled = 0
        while filled < HEADER.size:
            filled += self._receive_into(filled)
        header = unpack_header(self._buffer)
        end = HEADER.size + (header.nbytes if header.slot == INLINE else 0)
        while filled < end:
            filled += self._receive_into(filled)
        return header

    def _receive_into(self, filled: int) -> int:
        received = self._socket.recv_into(self._view[filled:])
        if received == 0:
            raise ConnectionError("the model process closed the connection")
        return received

    def close(self) -> None:
        self._socket.close()


def run_sync_cell(
    connect: Callable[[int], SyncCaller],
    x: np.ndarray,
    concurrency: int,
    seconds: float,
    model_pid: int,
) -> CellResult:
    """``concurrency`` threads, each with its own caller, calling for ``seconds``."""
    callers = [connect(index) for index in range(concurrency)]
    try:
        for caller in callers:
            _check(caller.call(x), x)
            for _ in range(WARM_UP_CALLS):
                caller.call(x)
        latencies: list[list[int]] = [[] for _ in callers]
        start = threading.Barrier(concurrency + 1)
        deadline_ns = [0]

        def calls(index: int) -> None:
            caller, record, clock = callers[index], latencies[index].append, time.perf_counter_ns
            start.wait()
            while True:
                began = clock()
                caller.call(x)
                ended = clock()
                record(ended - began)
                if ended >= deadline_ns[0]:
                    return

        threads = [threading.Thread(target=calls, args=(i,)) for i in range(concurrency)]
        for thread in threads:
            thread.start()
        deadline_ns[0] = time.perf_counter_ns() + int(seconds * 1e9)
        started = _clocks(model_pid)
        start.wait()
        for thread in threads:
            thread.join()
        return _cell_result(latencies, started, model_pid)
    finally:
        for caller in callers:
            caller.close()


class AsyncHopClient(asyncio.Protocol):
    """One connection shared by many coroutines; answers matched by request id."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._pending: dict[int, asyncio.Future[tuple[Header, bytes]]] = {}
        self._next_id = 1
        self._shared: memoryview | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def use_segment(self, segment: shared_memory.SharedMemory) -> None:
        """Send tensors through ``segment``'s slots from now on."""
        assert self._transport is not None
        name = segment.name.encode()
        self._transport.write(pack_header(0, HELLO, len(name), ()) + name)
        self._shared = segment.buf

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            header = unpack_header(self._buffer)
            end = HEADER.size + (header.nbytes if header.slot == INLINE else 0)
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            self._pending.pop(header.request_id).set_result((header, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self._pending.values():
            future.set_exception(ConnectionError("the model process closed the connection"))

    async def call(self, x: np.ndarray, slot: int) -> np.ndarray:
        assert self._transport is not None
        request_id = self._next_id
        self._next_id += 1
        answer = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        if self._shared is None:
            self._transport.write(pack_header(request_id, INLINE, x.nbytes, x.shape) + x.tobytes())
        else:
            slot_input(self._shared, slot, x.shape)[...] = x
            self._transport.write(pack_header(request_id, slot, x.nbytes, x.shape))
        header, payload = await answer
        if self._shared is None:
            return np.frombuffer(payload, dtype=np.float32).reshape(header.shape)
        return slot_output(self._shared, slot, header.shape).copy()


def run_async_cell(
    path: str,
    segment: shared_memory.SharedMemory | None,
    x: np.ndarray,
    concurrency: int,
    seconds: float,
    model_pid: int,
) -> CellResult:
    """``concurrency`` coroutines on one uvloop loop sharing one connection (slot i each)."""
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(
            _async_cell(path, segment, x, concurrency, seconds, model_pid)
        )
    finally:
        loop.close()


async def _async_cell(
    path: str,
    segment: shared_memory.SharedMemory | None,
    x: np.ndarray,
    concurrency: int,
    seconds: float,
    model_pid: int,
) -> CellResult:
    transport, client = await asyncio.get_running_loop().create_unix_connection(
        AsyncHopClient, path
    )
    try:
        if segment is not None:
            client.use_segment(segment)
        _check(await client.call(x, 0), x)
        latencies: list[list[int]] = [[] for _ in range(concurrency)]

        async def calls(slot: int, deadline_ns: int) -> None:
            record, clock = latencies[slot].append, time.perf_counter_ns
            while True:
                began = clock()
                await client.call(x, slot)
                ended = clock()
                record(ended - began)
                if ended >= deadline_ns:
                    return

        warm_up_ns = time.perf_counter_ns() + WARM_UP_NS
        await asyncio.gather(*(calls(slot, warm_up_ns) for slot in range(concurrency)))
        for per_caller in latencies:
            per_caller.clear()
        started = _clocks(model_pid)
        deadline_ns = time.perf_counter_ns() + int(seconds * 1e9)
        await asyncio.gather(*(calls(slot, deadline_ns) for slot in range(concurrency)))
        return _cell_result(latencies, started, model_pid)
    finally:
        transport.close()


def _clocks(model_pid: int) -> tuple[float, float, float]:
    """This process's CPU, the model process's CPU and the wall clock, now."""
    return time.process_time(), process_cpu_s(model_pid), time.perf_counter()


def _cell_result(
    latencies: list[list[int]], started: tuple[float, float, float], model_pid: int
) -> CellResult:
    """Every caller's latencies, and the clocks' progress since ``started``."""
    cpu, model_cpu, wall = started
    return CellResult(
        [latency for per_caller in latencies for latency in per_caller],
        time.process_time() - cpu,
        process_cpu_s(model_pid) - model_cpu,
        time.perf_counter() - wall,
    )


def _check(answer: np.ndarray, x: np.ndarray) -> None:
    expected = stand_in_model(x)
    if answer.shape != expected.shape or not np.allclose(answer, expected):
        raise AssertionError(f"wrong answer through the hop: {answer.ravel()[:4]}")
