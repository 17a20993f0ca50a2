"""Large gRPC messages: server CPU per call and throughput for answers, then requests, of
100 KB to 32 MB, tensorserve's h2 server against grpcio's threaded server (and an older
h2), in one run.

Each server (``harness/bytes_server.py``) answers a call with as many bytes as it asks
for, from a cached object, so what is timed is the transport's work on the message; a
large request carries padding and gets an empty answer. A grpcio client calls each
server in turn, one call at a time, rounds interleaved, medians kept. The in-process
reference is one copy of the message in this process (``bytes`` of a ``bytearray``):
the CPU column divided by it says how many copies' worth of work the server does per
message::

    python benchmarks/grpc_large_answers.py [--rounds 3] [--before-src OLD/src]

``--before-src`` adds an h2 server from another source tree (e.g. ``git archive`` of
an older commit), so before and after are timed side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from harness import processes
from harness.cpu import one_copy_us, process_tree_cpu_s

SIZES = (100_000, 4_000_000, 32_000_000)
DIRECTIONS = ("answer", "request")
BYTES_PER_CELL = 400_000_000
"""Each cell moves about this much (at least 5 calls), so every size takes similar time."""
SCRIPT = Path(__file__).resolve().parent / "harness" / "bytes_server.py"
METHOD = "/bench.Bytes/Get"


@contextlib.contextmanager
def bytes_server(kind: str, src: str, work_dir: Path, label: str) -> Iterator[tuple[str, int]]:
    """A ``bytes_server.py`` of ``kind`` with ``src`` on its path; yields (address, pid)."""
    port = processes.free_port()
    log = work_dir / f"{label.replace(' ', '_')}.log"
    ready = lambda: log.exists() and "ready" in log.read_text()  # noqa: E731
    command = [sys.executable, str(SCRIPT), kind, str(port)]
    with processes.running(label, command, ready, log, env={"PYTHONPATH": src}) as process:
        yield f"127.0.0.1:{port}", process.pid


def time_cell(address: str, pid: int, direction: str, size: int) -> tuple[float, float]:
    """(calls/s, server CPU µs per call) for answers (or requests) of ``size`` bytes."""
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    answer_size = size if direction == "answer" else 0
    request = str(size).encode() if direction == "answer" else b"0 " + bytes(size - 2)
    with grpc.insecure_channel(address, options=options) as channel:
        call = channel.unary_unary(METHOD)
        call(request, timeout=60)  # the answer is built and the window grown before timing
        calls = max(5, BYTES_PER_CELL // size)
        cpu_before, started = process_tree_cpu_s(pid), time.perf_counter()
        for _ in range(calls):
            if len(call(request, timeout=60)) != answer_size:
                raise RuntimeError(f"{address} answered the wrong size")
        elapsed = time.perf_counter() - started
        cpu = process_tree_cpu_s(pid) - cpu_before
    return calls / elapsed, cpu / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--before-src", help="an older tree's src/, served beside this one")
    args = parser.parse_args(argv)
    src = str(Path(__file__).resolve().parents[1] / "src")
    servers = [("h2 (this checkout)", "h2", src)]
    if args.before_src:
        servers.append(("h2 (--before-src)", "h2", str(Path(args.before_src).resolve())))
    servers.append(("grpcio threads", "threads", src))
    results: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        started = [
            (label, *stack.enter_context(bytes_server(kind, tree, Path(tmp), label)))
            for label, kind, tree in servers
        ]
        for round_index in range(args.rounds):
            print(f"round {round_index + 1} of {args.rounds}", file=sys.stderr, flush=True)
            for direction in DIRECTIONS:
                for size in SIZES:
                    for label, address, pid in started:
                        cell = time_cell(address, pid, direction, size)
                        results.setdefault((direction, label, size), []).append(cell)
    print("\n| message | server | calls/s | MB/s | server CPU µs/call | copies | vs grpcio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for direction in DIRECTIONS:
        for size in SIZES:
            copy = one_copy_us(size)
            peer_cells = results[(direction, "grpcio threads", size)]
            peer = statistics.median(rate for rate, _ in peer_cells)
            for label, _, _ in started:
                cells = results[(direction, label, size)]
                rate = statistics.median(rate for rate, _ in cells)
                cpu = statistics.median(cpu for _, cpu in cells)
                print(
                    f"| {direction} {size / 1e6:g} MB | {label} | {rate:,.1f} "
                    f"| {rate * size / 1e6:,.0f} | {cpu:,.0f} | {cpu / copy:.1f} "
                    f"| {rate / peer:.2f}x |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
