"""Which --num_workers design: the figures that decide it, side by side in one run.

Issue 13, part 3: N processes serve the transports on shared ports without N copies
of the models. Two designs: transport-only workers forwarding to one model process,
or workers that each load the models. This measures what each costs:

1. **The hop** a transport worker adds: one request's tensor handed to a model process
   and the answer handed back, for half_plus_two at batch 1 (one float32) and the CNN's
   batch-32 input (32x28x28x1 float32, 100 KB, answered as 32x10). Mechanisms: a Unix
   socket with a 32-byte header and the raw tensor bytes, from blocking threads (one
   connection each, like the threaded gRPC server's handlers) and from asyncio
   coroutines sharing one connection (like the REST front end); the same with the
   bytes in shared-memory slots and only the header on the socket; and the in-process
   call, the reference. The model side computes ``0.5 * x + 2`` (after summing each
   image to 10 numbers), so the rows differ by the hop. Round trip p50/p99 at 1, 8 and 32
   concurrent callers, CPU µs per round trip on each side.
2. **Memory** of each design with a ~128 MB ONNX model (seeded MatMul weights, built
   here): VmRSS, PSS (a page shared by k processes counts 1/k) and private pages.
3. **SO_REUSEPORT**: how the kernel spreads connections over two processes accepting
   on one port.

The model process and the callers are pinned to different CPUs (``--no-pin``: not).
One run, one machine: read the ratios.

    .venv/bin/python benchmarks/worker_designs.py            # 3 rounds of 1 s cells (~2 min)
    .venv/bin/python benchmarks/worker_designs.py --quick    # 1 round of 0.3 s cells (<1 min)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
from harness import hop_callers, reuseport_spread, worker_memory
from harness.hop_callers import CellResult, InProcessCaller, SocketCaller

# Per-request server CPU today, from docs/benchmarks.md, "gRPC against REST (issue 13,
# part 2)", the "after" rows (half_plus_two, server pinned to one CPU): REST 128 µs at
# c=8 and 99 at c=32; the threaded gRPC server 306 and 314.
REST_CPU_US = {8: 128, 32: 99}
GRPC_CPU_US = {8: 306, 32: 314}
# The CNN, 32 images per request over V2 binary REST: 183 µs per image (the concurrency
# sweep's "tensorserve V2 REST (binary), batch 32" row), so ~5,900 µs per request.
CNN_REQUEST_CPU_US = 32 * 183
# The model process's own work per request besides the hop, in-process limit row of
# "Latest run": the half_plus_two predict call through the data plane, 14 µs.
MODEL_CALL_CPU_US = 14
MEMORY_GOAL = 1.3

PAYLOADS = {
    "half_plus_two, batch 1": np.array([[1.0]], dtype=np.float32),
    "CNN input, batch 32": np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32),
}
MECHANISMS = (
    "in-process",
    "socket, sync",
    "socket, asyncio",
    "shared memory, sync",
    "shared memory, asyncio",
)
CALLERS = (1, 8, 32)


def run_cell(
    mechanism: str,
    x: np.ndarray,
    callers: int,
    seconds: float,
    model: tuple[int, str],
    segment: shared_memory.SharedMemory,
) -> CellResult:
    """One cell: ``callers`` callers through ``mechanism`` for ``seconds``."""
    pid, path = model
    if mechanism == "in-process":
        return hop_callers.run_sync_cell(lambda _: InProcessCaller(), x, callers, seconds, pid)
    shared = segment if mechanism.startswith("shared memory") else None
    if mechanism.endswith("asyncio"):
        return hop_callers.run_async_cell(path, shared, x, callers, seconds, pid)
    return hop_callers.run_sync_cell(
        lambda slot: SocketCaller(path, shared, slot), x, callers, seconds, pid
    )


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """This thread (and threads it starts) on ``cpu`` for the block."""
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


Key = tuple[str, str, int]


def measure_hops(
    rounds: int, seconds: float, pin: bool, model_side: str
) -> dict[Key, list[CellResult]]:
    """Every (payload, mechanism, callers) cell, the cells interleaved over ``rounds``."""
    cpus = sorted(os.sched_getaffinity(0))
    model_cpu, caller_cpu = (cpus[0], cpus[-1]) if pin and len(cpus) > 1 else (None, None)
    results: dict[Key, list[CellResult]] = {}
    with (
        hop_callers.model_process(model_cpu, model_side) as model,
        hop_callers.slot_segment(max(CALLERS)) as segment,
        pinned(caller_cpu),
    ):
        for _ in range(rounds):
            for payload, x in PAYLOADS.items():
                for mechanism in MECHANISMS:
                    for callers in CALLERS:
                        cell = run_cell(mechanism, x, callers, seconds, model, segment)
                        results.setdefault((payload, mechanism, callers), []).append(cell)
    return results


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def summarise(cells: list[CellResult]) -> dict[str, float]:
    """Medians over rounds: calls/s, p50/p99 µs, CPU µs per call on each side."""

    def per_round(cell: CellResult) -> dict[str, float]:
        ordered = sorted(cell.latencies_ns)
        return {
            "rate": cell.calls / cell.wall_s,
            "p50": ordered[len(ordered) // 2] / 1e3,
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e3,
            "worker": cell.worker_cpu_s / cell.calls * 1e6,
            "model": cell.model_cpu_s / cell.calls * 1e6,
        }

    rounds = [per_round(cell) for cell in cells]
    summary = {key: _median([r[key] for r in rounds]) for key in rounds[0]}
    summary["total"] = summary["worker"] + summary["model"]
    return summary


def print_hops(results: dict[Key, list[CellResult]]) -> dict[Key, dict[str, float]]:
    summaries = {key: summarise(cells) for key, cells in results.items()}
    print(
        f"\n{'tensor':<24}{'mechanism':<24}{'callers':>7}{'calls/s':>9}{'p50 µs':>8}"
        f"{'p99 µs':>8}{'CPU µs: worker':>15}{'model':>7}{'both':>7}{'hop':>7}"
    )
    for (payload, mechanism, callers), s in summaries.items():
        reference = summaries[(payload, "in-process", callers)]["total"]
        hop = "" if mechanism == "in-process" else f"{s['total'] - reference:.1f}"
        print(
            f"{payload:<24}{mechanism:<24}{callers:>7}{s['rate']:>9,.0f}{s['p50']:>8.1f}"
            f"{s['p99']:>8.1f}{s['worker']:>15.1f}{s['model']:>7.1f}{s['total']:>7.1f}{hop:>7}"
        )
    print("hop: CPU µs per round trip of both sides minus the in-process row's")
    return summaries


def hop_conclusions(summaries: dict[Key, dict[str, float]]) -> None:
    def hop(payload: str, mechanism: str, callers: int) -> tuple[float, dict[str, float]]:
        s = summaries[(payload, mechanism, callers)]
        return s["total"] - summaries[(payload, "in-process", callers)]["total"], s

    small = "half_plus_two, batch 1"
    for callers in CALLERS[1:]:
        for name, mechanism, today in (
            ("REST", "socket, asyncio", REST_CPU_US[callers]),
            ("gRPC", "socket, sync", GRPC_CPU_US[callers]),
        ):
            cost, s = hop(small, mechanism, callers)
            print(
                f"- {name}'s hop ({mechanism}), {callers} callers: {cost:.0f} µs CPU per"
                f" request ({s['worker']:.0f} worker + {s['model']:.0f} model side, less the"
                f" in-process call) = {cost / today:.0%} of {name}'s ~{today} µs at c={callers};"
                f" with 2 processes (half forwarded) +{cost / 2 / today:.0%} per request"
            )
    big = "CNN input, batch 32"
    for mechanism in ("socket", "shared memory"):
        cost, s = hop(big, f"{mechanism}, asyncio", 8)
        print(
            f"- CNN batch 32 (100 KB in, 1.3 KB out), {mechanism}, asyncio, 8 callers:"
            f" {cost:.0f} µs, p50 {s['p50']:.0f} µs = {cost / CNN_REQUEST_CPU_US:.1%} of a"
            f" ~{CNN_REQUEST_CPU_US:,} µs V2 binary REST request"
        )
    rest = summaries[(small, "socket, asyncio", CALLERS[-1])]
    model_side = rest["model"] + MODEL_CALL_CPU_US
    print(
        f"- one model process spends ~{model_side:.0f} µs of its core per forwarded"
        f" half_plus_two request at c={CALLERS[-1]} (hop {rest['model']:.0f} + the"
        f" {MODEL_CALL_CPU_US} µs data-plane call): at most ~{1e6 / model_side:,.0f} req/s,"
        f" reached with ~{(REST_CPU_US[32] + rest['worker']) / model_side:.1f} REST workers"
    )


LAYOUTS = {
    "(a) one process holding the model": ["holder"],
    "(b) 2 workers, each loads the model": ["holder", "holder"],
    "(c) model process + 2 transport workers": ["holder", "transport", "transport"],
    "(c') model process also serving + 1 worker": ["holder", "transport"],
    "(d) 2 workers, weights mmap'd (ONNX only)": ["mapped", "mapped"],
}


def measure_memory(megabytes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="worker-designs-") as scratch:
        model, width = worker_memory.build_model(Path(scratch), megabytes)
        size = (Path(scratch) / worker_memory.WEIGHTS_FILE).stat().st_size / 2**20
        print(f"\nmodel: 4 MatMuls {width}x{width}, {size:.0f} MiB of float32 weights")
        rows = {}
        for layout, roles in LAYOUTS.items():
            with worker_memory.running([(role, str(model)) for role in roles]) as pids:
                rows[layout] = [worker_memory.memory_of(pid) for pid in pids]
    base = rows["(a) one process holding the model"]
    base_rss, base_pss = sum(m.rss for m in base), sum(m.pss for m in base)
    print(
        f"{'layout':<44}{'RSS sum MiB':>12}{'x (a)':>7}{'PSS sum MiB':>12}{'x (a)':>7}"
        f"  goal <= {MEMORY_GOAL}x (PSS)  private MiB per process"
    )
    for layout, memories in rows.items():
        rss, pss = sum(m.rss for m in memories), sum(m.pss for m in memories)
        verdict = "" if layout.startswith("(a)") else _verdict(pss / base_pss)
        private = " + ".join(f"{m.uss:.0f}" for m in memories)
        print(
            f"{layout:<44}{rss:>12.0f}{rss / base_rss:>7.2f}{pss:>12.0f}{pss / base_pss:>7.2f}"
            f"  {verdict:<22}{private}"
        )
    worker = rows["(c) model process + 2 transport workers"][1]
    overhead = base_pss - size
    print(
        f"- a transport worker: {worker.rss:.0f} MiB RSS, {worker.pss:.0f} PSS,"
        f" {worker.uss:.0f} private; the model process holds the weights + {overhead:.0f} MiB"
    )
    for weights in (100, 1024):
        one = overhead + weights
        print(
            f"- projected for {weights} MiB of weights, PSS: (a) {one:.0f}, (b) {2 * one:.0f}"
            f" ({2:.2f}x), (c) {one + 2 * worker.pss:.0f} ({(one + 2 * worker.pss) / one:.2f}x),"
            f" (c') {one + worker.pss:.0f} ({(one + worker.pss) / one:.2f}x)"
        )


def _verdict(ratio: float) -> str:
    return f"{'PASS' if ratio <= MEMORY_GOAL else 'MISS'} ({ratio:.2f}x)"


def measure_reuseport(connections: int) -> None:
    with reuseport_spread.acceptors(2) as port:
        counts = reuseport_spread.short_connections(port, connections, threads=8, workers=2)
        groups32 = reuseport_spread.held_groups(port, group=32, trials=20, workers=2)
        groups2 = reuseport_spread.held_groups(port, group=2, trials=50, workers=2)
    print(
        f"\nSO_REUSEPORT, 2 acceptors: {sum(counts):,} short connections from 8 threads"
        f" split {counts[0]:,} / {counts[1]:,} (balance min/max {min(counts) / max(counts):.2f})"
    )
    larger = sorted(max(split) for split in groups32)
    print(
        f"- 32 connections held at once, 20 trials: the busier acceptor got"
        f" {larger[len(larger) // 2]} (median) to {larger[-1]} (worst) of 32"
    )
    lopsided = sum(1 for split in groups2 if 0 in split)
    print(
        f"- 2 connections held at once, 50 trials: both on one acceptor in {lopsided}"
        f" ({lopsided / 50:.0%}): two long-lived connections often load one worker only"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 0.3 s cells")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per hop cell")
    parser.add_argument("--model-mb", type=int, default=128, help="ONNX weights, MB")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--no-pin", action="store_true", help="let the kernel place processes")
    parser.add_argument(
        "--model-side",
        choices=("asyncio", "threads"),
        default="asyncio",
        help="the model process: one uvloop loop (default), or a thread per connection",
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every ``finally`` stops children and unlinks memory.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if args.quick:
        args.rounds, args.seconds = 1, 0.3
    started = time.monotonic()
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; hop cells:"
        f" {args.rounds} round(s) of {args.seconds} s, medians; model side: {args.model_side}"
    )
    hops = measure_hops(args.rounds, args.seconds, not args.no_pin, args.model_side)
    summaries = print_hops(hops)
    hop_conclusions(summaries)
    measure_memory(args.model_mb)
    measure_reuseport(args.connections)
    print(f"\n{time.monotonic() - started:.0f} s, load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
