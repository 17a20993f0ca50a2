"""gRPC against REST on one server, side by side: req/s, p50/p99 and server CPU per request.

half_plus_two at batch 1 (TF Serving's Predict over gRPC, its row-format JSON over
REST). One tensorserve server per gRPC variant, all started first; every cell (a
target at one concurrency) is then timed in turn, rounds interleaved, medians kept,
so the ratios come from one run. Variants: ``h2`` (the default gRPC server,
tensorserve's own HTTP/2), ``threads`` (grpcio's threaded server), ``asyncio``
(grpc.aio), and with ``--all`` a few grpcio settings (two handler threads,
``GRPC_POLL_STRATEGY=poll``); ``--v2`` adds V2 ``ModelInfer`` rows on each gRPC
server; ``--floor`` adds bare servers (grpcio's threaded and grpc.aio, and
tensorserve's h2) whose Predict answers a constant: each server's own CPU per RPC,
the floor under any handler. REST is driven on the first server. The load generator
(h2load, wrk) is pinned to the last CPU and the servers to
the others when ``taskset`` exists and there are at least two CPUs::

    python benchmarks/grpc_speed.py [--duration 3] [--rounds 1] [--all] [--v2] [--floor]
    PYTHONPATH=<older checkout>/src python benchmarks/grpc_speed.py --baseline

Goals (issue 13): gRPC req/s >= REST req/s at concurrency 8; gRPC p99 <= 3x p50 at 32.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from harness import h2load, models, processes, tools, v2_requests, wrk
from harness.cpu import process_tree_cpu_s
from harness.measurement import Measurement
from harness.targets import Endpoints, start_tensorserve

REST_LABEL = "REST"
CONCURRENCIES = (8, 32)


@dataclasses.dataclass(frozen=True, slots=True)
class Variant:
    """One gRPC server configuration under test."""

    label: str
    flags: tuple[str, ...] = ()
    env: dict[str, str] = dataclasses.field(default_factory=dict)


VARIANTS = (
    Variant("gRPC h2", ("--grpc_server=h2",)),
    Variant("gRPC threads", ("--grpc_server=threads",)),
    Variant("gRPC asyncio", ("--grpc_server=asyncio",)),
)
BASELINE = Variant("gRPC (default server)")
MORE_VARIANTS = (
    Variant("gRPC threads, 2 threads", ("--grpc_server=threads", "--grpc_max_threads=2")),
    Variant("gRPC threads, poll", ("--grpc_server=threads",), {"GRPC_POLL_STRATEGY": "poll"}),
    Variant("gRPC asyncio, poll", ("--grpc_server=asyncio",), {"GRPC_POLL_STRATEGY": "poll"}),
)


FLOOR_KINDS = ("threads", "asyncio", "h2")
FLOOR_LABEL = "floor"


def floor_label(kind: str) -> str:
    return f"{FLOOR_LABEL}, {kind}"


def floor_server(
    kind: str, work_dir: Path, prefix: Sequence[str]
) -> contextlib.AbstractContextManager[Endpoints]:
    """``harness/grpc_floor_server.py``: a bare grpcio server of ``kind`` whose Predict
    answers a constant, so its CPU per request is grpcio's own."""
    port = processes.free_port()
    script = Path(__file__).resolve().parent / "harness" / "grpc_floor_server.py"
    log = work_dir / f"floor-{kind}.log"

    @contextlib.contextmanager
    def serving() -> Iterator[Endpoints]:
        command = [*prefix, sys.executable, str(script), kind, str(port)]
        ready = lambda: log.exists() and "ready" in log.read_text()  # noqa: E731
        with processes.running(f"floor {kind}", command, ready, log) as process:
            yield Endpoints("", f"127.0.0.1:{port}", pid=process.pid)

    return serving()


def predict_frame(model: models.BenchModel) -> bytes:
    """TF Serving's PredictRequest for ``model.sample`` (float32) as one gRPC frame,
    built without TensorFlow so this process stays small."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model.name
    request.model_spec.signature_name = models.SIGNATURE
    tensor = request.inputs[model.input_name]
    tensor.dtype = 1  # DT_FLOAT
    for size in model.sample.shape:
        tensor.tensor_shape.dim.add().size = size
    tensor.float_val.extend(float(x) for x in model.sample.ravel())
    message = request.SerializeToString()
    return struct.pack(">BI", 0, len(message)) + message


def check_grpc(endpoints: Endpoints, frame: bytes, expected: float) -> None:
    """One Predict through a real client; raises unless it answers ``expected``."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest.FromString(frame[5:])
    with grpc.insecure_channel(endpoints.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
    values = list(next(iter(response.outputs.values())).float_val)
    if values != [expected]:
        raise RuntimeError(f"gRPC answered {values}, not [{expected}]")


def priced(pid: int, seconds: int, measure: Callable[[], Measurement]) -> Measurement:
    """``measure()`` with the server tree's CPU µs per successful request."""
    before = process_tree_cpu_s(pid)
    cell = measure()
    after = process_tree_cpu_s(pid)
    requests = cell.requests_per_s * seconds
    if before is None or after is None or requests <= 0:
        return cell
    return dataclasses.replace(cell, cpu_us_per_request=(after - before) / requests * 1e6)


def median_cell(cells: Sequence[Measurement]) -> Measurement:
    ok = [cell for cell in cells if cell.ok]
    if not ok:
        return cells[0]
    ordered = sorted(ok, key=lambda cell: cell.requests_per_s)
    middle = ordered[len(ordered) // 2]
    cpus = [cell.cpu_us_per_request for cell in ok if cell.cpu_us_per_request is not None]
    return dataclasses.replace(middle, cpu_us_per_request=statistics.median(cpus) if cpus else None)


def pinning(no_pin: bool) -> tuple[list[str], list[str], str]:
    """(server prefix, load generator prefix, description)."""
    cpus = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    if no_pin or taskset is None or len(cpus) < 2:
        return [], [], "nothing pinned"
    load, server = cpus[-1], ",".join(str(cpu) for cpu in cpus[:-1])
    return (
        [taskset, "-c", server],
        [taskset, "-c", str(load)],
        f"servers on CPU {server}, load generator on CPU {load}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per cell (3)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (1)")
    parser.add_argument("--all", action="store_true", help="also the grpcio setting variants")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--v2", action="store_true", help="also V2 ModelInfer rows for each gRPC server"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also bare grpcio servers answering a constant (grpcio's own cost per RPC)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="one gRPC server with no flags (for a tensorserve without --grpc_server)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    variants = VARIANTS + (MORE_VARIANTS if args.all else ())
    if args.baseline:
        variants = (BASELINE,)
    server_prefix, load_prefix, pinned = pinning(args.no_pin)
    with tempfile.TemporaryDirectory(prefix="tensorserve-grpc-speed-") as tmp:
        work_dir = Path(tmp)
        wrk_tool = tools.debian_tool("wrk", "wrk", work_dir / "install.log")
        h2load_tool = tools.debian_tool("h2load", "nghttp2-client", work_dir / "install.log")
        if not (wrk_tool.available and h2load_tool.available):
            print(f"needs wrk and h2load: {wrk_tool.reason or h2load_tool.reason}")
            return 1
        model = models.half_plus_two(work_dir)
        frame_path = work_dir / "predict.grpc"
        frame_path.write_bytes(predict_frame(model))
        v2_frame = work_dir / "infer.grpc"
        if args.v2:
            message = v2_requests.infer_request(model)
            v2_frame.write_bytes(struct.pack(">BI", 0, len(message)) + message)
        script = wrk.write_script(work_dir / "rest.lua", model.rest_body())
        expected = float(model.sample[0]) * 0.5 + 2.0
        print(f"load average at start: {os.getloadavg()}; {pinned}", flush=True)
        cells: list[tuple[str, int, Callable[[], Measurement]]] = []
        with contextlib.ExitStack() as running:
            servers: list[tuple[Variant, Endpoints]] = []
            for index, variant in enumerate(variants):
                endpoints = running.enter_context(
                    start_tensorserve(
                        model,
                        work_dir,
                        False,
                        extra_flags=variant.flags,
                        env=variant.env,
                        prefix=server_prefix,
                        label_suffix=f"-{index}",
                    )
                )
                check_grpc(endpoints, frame_path.read_bytes(), expected)
                servers.append((variant, endpoints))
            floors = [
                running.enter_context(floor_server(kind, work_dir, server_prefix))
                for kind in (FLOOR_KINDS if args.floor else ())
            ]
            for endpoints in floors:
                check_grpc(endpoints, frame_path.read_bytes(), expected)
            rest = servers[0][1]
            seconds = args.duration
            for concurrency in CONCURRENCIES:
                cells.append(
                    (
                        REST_LABEL,
                        concurrency,
                        lambda c=concurrency: priced(
                            rest.pid,
                            seconds,
                            lambda: wrk.run(
                                wrk_tool.path,
                                rest.predict_url,
                                script,
                                c,
                                seconds,
                                model.name,
                                REST_LABEL,
                                prefix=load_prefix,
                            ),
                        ),
                    )
                )
                targets = [(variant.label, endpoints) for variant, endpoints in servers]
                targets += [
                    (floor_label(kind), e) for kind, e in zip(FLOOR_KINDS, floors, strict=False)
                ]
                for target, endpoints in targets:
                    rows = [(target, frame_path, h2load.PREDICT_METHOD)]
                    if args.v2 and not target.startswith(FLOOR_LABEL):
                        rows.append((f"V2 {target}", v2_frame, v2_requests.INFER_METHOD))
                    for label, frame, method in rows:
                        cells.append(
                            (
                                label,
                                concurrency,
                                lambda c=concurrency, la=label, e=endpoints, f=frame, m=method: (
                                    priced(
                                        e.pid,
                                        seconds,
                                        lambda: h2load.run(
                                            h2load_tool.path,
                                            e.grpc_target,
                                            f,
                                            c,
                                            seconds,
                                            model.name,
                                            la,
                                            work_dir,
                                            m,
                                            prefix=load_prefix,
                                        ),
                                    )
                                ),
                            )
                        )
            for _label, concurrency, measure in cells:  # warm every path, untimed
                if concurrency == CONCURRENCIES[0]:
                    measure()
            taken: dict[tuple[str, int], list[Measurement]] = {}
            for round_number in range(args.rounds):
                print(f"round {round_number + 1} of {args.rounds}", file=sys.stderr, flush=True)
                for label, concurrency, measure in cells:
                    taken.setdefault((label, concurrency), []).append(measure())
        print(f"load average at end: {os.getloadavg()}")
    results = {key: median_cell(values) for key, values in taken.items()}
    labels = [REST_LABEL, *(variant.label for variant in variants)]
    if args.v2:
        labels += [f"V2 {variant.label}" for variant in variants]
    if args.floor:
        labels += [floor_label(kind) for kind in FLOOR_KINDS]
    print_table(results, labels)
    return 0


def print_table(results: dict[tuple[str, int], Measurement], labels: Sequence[str]) -> None:
    header = ("target", "c", "req/s", "p50 ms", "p99 ms", "p99/p50", "CPU µs/req", "vs REST")
    rows = [header]
    for concurrency in CONCURRENCIES:
        rest = results.get((REST_LABEL, concurrency))
        for label in labels:
            cell = results.get((label, concurrency))
            if cell is None:
                continue
            if not cell.ok:
                rows.append((label, str(concurrency), cell.unavailable, "", "", "", "", ""))
                continue
            spread = cell.p99_ms / cell.p50_ms if cell.p50_ms > 0 else 0.0
            versus = (
                f"{cell.requests_per_s / rest.requests_per_s:.2f}x"
                if rest is not None and rest.ok
                else "-"
            )
            cpu = "-" if cell.cpu_us_per_request is None else f"{cell.cpu_us_per_request:.0f}"
            rows.append(
                (
                    label,
                    str(concurrency),
                    f"{cell.requests_per_s:,.0f}",
                    f"{cell.p50_ms:.2f}",
                    f"{cell.p99_ms:.2f}",
                    f"{spread:.1f}",
                    cpu,
                    versus,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)))
    rest = results.get((REST_LABEL, 8))
    for label in labels[1:]:  # every TF Serving gRPC server; the first is the default
        if not label.startswith("gRPC "):
            continue
        grpc = results.get((label, 8))
        spread = results.get((label, 32))
        if grpc is not None and rest is not None and grpc.ok and rest.ok:
            ratio = grpc.requests_per_s / rest.requests_per_s
            verdict = "PASS" if ratio >= 1 else "MISS"
            print(f"goal gRPC >= REST at c=8, {label}: {ratio:.2f}x -> {verdict}")
        if spread is not None and spread.ok and spread.p50_ms > 0:
            value = spread.p99_ms / spread.p50_ms
            verdict = "PASS" if value <= 3 else "MISS"
            print(f"goal p99 <= 3x p50 at c=32, {label}: {value:.1f}x -> {verdict}")


if __name__ == "__main__":
    sys.exit(main())
