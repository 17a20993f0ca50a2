"""``--num_workers``: one server process against N, side by side in one run.

half_plus_two at batch 1, TF Serving's REST (wrk) and gRPC Predict (h2load), at
concurrency 8 and 32: one tensorserve server per worker count (``--workers``, 1 and
2), all started first; every cell is timed in turn, rounds interleaved, medians
kept. Each row has req/s, p50/p99, the server tree's CPU µs per request (the
model process and its workers together) and req/s against one process. The load
generator is pinned to the last CPU and the servers to the others (``--no-pin``:
nothing pinned, as a server sharing the machine runs). Then resident memory:
a ``--memory-mb`` ONNX model (seeded MatMul weights), served with each worker
count, RSS and PSS summed over the server's processes::

    python benchmarks/num_workers.py [--duration 3] [--rounds 1] [--workers 1,2]
                                     [--no-pin] [--onnx] [--memory-mb 120]

Goals (issue 13): with 2 workers, REST and gRPC at concurrency 32 serve >= 1.5x one
process; CPU per request does not grow with N; resident memory with 2 workers
<= 1.3x one process for a model of 100 MB or more.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from grpc_speed import check_grpc, median_cell, pinning, predict_frame, priced
from harness import h2load, models, tools, wrk
from harness.measurement import Measurement
from harness.targets import Endpoints, start_tensorserve
from harness.worker_memory import build_model, memory_of
from startup import write_onnx_half_plus_two

WORKERS_SERVING = "transport workers serving beside this process"
CONCURRENCIES = (8, 32)


def serving_with_workers(
    model: models.BenchModel, work_dir: Path, workers: int, prefix: Sequence[str]
) -> contextlib.AbstractContextManager[Endpoints]:
    """``start_tensorserve`` with ``--num_workers``, ready once every worker serves."""

    @contextlib.contextmanager
    def serving() -> Iterator[Endpoints]:
        suffix = f"-w{workers}"
        with start_tensorserve(
            model,
            work_dir,
            False,
            extra_flags=(f"--num_workers={workers}",),
            prefix=prefix,
            label_suffix=suffix,
        ) as endpoints:
            if workers > 1:
                log = work_dir / f"tensorserve-{model.name}{suffix}.log"
                wait_for(lambda: WORKERS_SERVING in log.read_text(), 60, "workers")
            yield endpoints

    return serving()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def tree_pids(pid: int) -> list[int]:
    import psutil

    root = psutil.Process(pid)
    return [pid, *(child.pid for child in root.children(recursive=True))]


def memory_rows(
    work_dir: Path, megabytes: int, counts: Sequence[int]
) -> list[tuple[int, float, float]]:
    """(workers, RSS MiB, PSS MiB) of a server tree serving a ``megabytes`` ONNX model."""
    base = work_dir / "large"
    version = base / "1"
    version.mkdir(parents=True)
    build_model(version, megabytes)
    model = models.BenchModel(
        name="large",
        base_path=base,
        version_dir="1",
        input_name="x",
        output_name="h4",
        sample=models.half_plus_two(work_dir).sample,
        row_input=1.0,
        origin="seeded MatMul chain",
        v2_shape=(1, 1),
    )
    rows = []
    for count in counts:
        with serving_with_workers(model, work_dir, count, ()) as endpoints:
            memories = [memory_of(pid) for pid in tree_pids(endpoints.pid)]
            rows.append((count, sum(m.rss for m in memories), sum(m.pss for m in memories)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per cell (3)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (1)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (1,2)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--onnx", action="store_true", help="half_plus_two as model.onnx, not a SavedModel"
    )
    parser.add_argument(
        "--memory-mb", type=int, default=120, help="model size for the memory rows (0: none)"
    )
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.workers.split(",")]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    server_prefix, load_prefix, pinned = pinning(args.no_pin)
    seconds = args.duration
    with tempfile.TemporaryDirectory(prefix="tensorserve-num-workers-") as tmp:
        work_dir = Path(tmp)
        wrk_tool = tools.debian_tool("wrk", "wrk", work_dir / "install.log")
        h2load_tool = tools.debian_tool("h2load", "nghttp2-client", work_dir / "install.log")
        if not (wrk_tool.available and h2load_tool.available):
            print(f"needs wrk and h2load: {wrk_tool.reason or h2load_tool.reason}")
            return 1
        model = models.half_plus_two(work_dir)
        if args.onnx:
            base = write_onnx_half_plus_two(work_dir / "onnx" / model.name / "1")
            model = dataclasses.replace(
                model,
                base_path=base,
                version_dir="1",
                origin="ONNX",
                sample=model.sample.reshape(1, 1),
                row_input=[model.row_input],
            )
        print(f"model: half_plus_two from {model.origin}")
        frame_path = work_dir / "predict.grpc"
        frame_path.write_bytes(predict_frame(model))
        script = wrk.write_script(work_dir / "rest.lua", model.rest_body())
        expected = float(model.sample.ravel()[0]) * 0.5 + 2.0
        print(f"load average at start: {os.getloadavg()}; {pinned}", flush=True)
        cells: list[tuple[str, int, int, Callable[[], Measurement]]] = []
        with contextlib.ExitStack() as running:
            for count in counts:
                endpoints = running.enter_context(
                    serving_with_workers(model, work_dir, count, server_prefix)
                )
                check_grpc(endpoints, frame_path.read_bytes(), expected)
                for concurrency in CONCURRENCIES:
                    cells.append(
                        (
                            "REST",
                            count,
                            concurrency,
                            lambda c=concurrency, e=endpoints: priced(
                                e.pid,
                                seconds,
                                lambda: wrk.run(
                                    wrk_tool.path,
                                    e.predict_url,
                                    script,
                                    c,
                                    seconds,
                                    model.name,
                                    "REST",
                                    prefix=load_prefix,
                                ),
                            ),
                        )
                    )
                    cells.append(
                        (
                            "gRPC",
                            count,
                            concurrency,
                            lambda c=concurrency, e=endpoints: priced(
                                e.pid,
                                seconds,
                                lambda: h2load.run(
                                    h2load_tool.path,
                                    e.grpc_target,
                                    frame_path,
                                    c,
                                    seconds,
                                    model.name,
                                    "gRPC",
                                    work_dir,
                                    h2load.PREDICT_METHOD,
                                    prefix=load_prefix,
                                ),
                            ),
                        )
                    )
            for *_key, measure in cells:  # warm every path, untimed
                measure()
            taken: dict[tuple[str, int, int], list[Measurement]] = {}
            for round_number in range(args.rounds):
                print(f"round {round_number + 1} of {args.rounds}", file=sys.stderr, flush=True)
                for protocol, count, concurrency, measure in cells:
                    taken.setdefault((protocol, count, concurrency), []).append(measure())
        print(f"load average after the throughput cells: {os.getloadavg()}")
        results = {key: median_cell(values) for key, values in taken.items()}
        print_table(results, counts)
        if args.memory_mb > 0:
            print_memory(memory_rows(work_dir, args.memory_mb, counts), args.memory_mb)
    return 0


def print_table(results: dict[tuple[str, int, int], Measurement], counts: Sequence[int]) -> None:
    header = ("protocol", "workers", "c", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "vs 1")
    rows = [header]
    for protocol in ("REST", "gRPC"):
        for concurrency in CONCURRENCIES:
            one = results.get((protocol, counts[0], concurrency))
            for count in counts:
                cell = results[(protocol, count, concurrency)]
                if not cell.ok:
                    rows.append((protocol, str(count), str(concurrency), cell.unavailable,
                                 "", "", "", ""))  # fmt: skip
                    continue
                versus = (
                    f"{cell.requests_per_s / one.requests_per_s:.2f}x"
                    if one is not None and one.ok
                    else "-"
                )
                cpu = "-" if cell.cpu_us_per_request is None else f"{cell.cpu_us_per_request:.0f}"
                rows.append(
                    (
                        protocol,
                        str(count),
                        str(concurrency),
                        f"{cell.requests_per_s:,.0f}",
                        f"{cell.p50_ms:.2f}",
                        f"{cell.p99_ms:.2f}",
                        cpu,
                        versus,
                    )
                )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)))
    if 1 not in counts or 2 not in counts:
        return
    for protocol in ("REST", "gRPC"):
        one, two = results[(protocol, 1, 32)], results[(protocol, 2, 32)]
        if not (one.ok and two.ok):
            continue
        ratio = two.requests_per_s / one.requests_per_s
        verdict = "PASS" if ratio >= 1.5 else "MISS"
        print(f"goal {protocol} 2 workers >= 1.5x one at c=32: {ratio:.2f}x -> {verdict}")
        if one.cpu_us_per_request and two.cpu_us_per_request:
            growth = two.cpu_us_per_request / one.cpu_us_per_request
            verdict = "PASS" if growth <= 1.10 else "MISS"
            print(
                f"goal {protocol} CPU per request does not grow (2 vs 1 workers, c=32, "
                f"within 10%): {growth:.2f}x -> {verdict}"
            )


def print_memory(rows: Sequence[tuple[int, float, float]], megabytes: int) -> None:
    print(f"\nresident memory, a {megabytes} MB ONNX model (MiB, summed over the processes)")
    print("workers  RSS     PSS     PSS vs 1")
    one = rows[0][2]
    for count, rss, pss in rows:
        print(f"{count:<7}  {rss:<6.0f}  {pss:<6.0f}  {pss / one:.2f}x")
    two = [pss for count, _rss, pss in rows if count == 2]
    if rows[0][0] == 1 and two:
        ratio = two[0] / one
        verdict = "PASS" if ratio <= 1.3 else "MISS"
        print(f"goal memory with 2 workers <= 1.3x one (PSS): {ratio:.2f}x -> {verdict}")


if __name__ == "__main__":
    sys.exit(main())
