"""TensorFlow vs ONNX Runtime for the small MNIST CNN and a MobileNetV2, in-process and served.

Builds ``harness.models.small_cnn`` (seeded weights) with its verified ONNX twin
(``tensorserve convert``'s code) and ``harness.models.mobilenet_v2`` (Keras'
MobileNetV2, seeded, exported by ``tensorserve export``, twin written and verified),
then measures images/s at each batch size:

* in-process: ``SavedModelLoader`` + ``predict`` (the server's TensorFlow call) against
  the same loader wrapped by ``TwinLoader`` (the server's ONNX Runtime call);
* served: per model one server without and one with ``--prefer_onnx_model``, each called
  over TensorFlow Serving gRPC (a prebuilt ``PredictRequest``) and V2 REST with the
  binary tensor extension (``tritonclient.http``), one client, closed loop. With
  ``--in-flight N`` gRPC is driven by ``h2load`` over N connections POSTing the same
  prebuilt request frame (``--grpc-driver=client``: the Python client keeps N requests
  outstanding instead, as before 2026-12-05), and V2 REST by ``wrk`` over N connections
  with the same binary body (tritonclient's ``async_infer`` stalls at ~90 requests/s
  whatever the server), so the server, not one round trip, sets the rate. The C load
  generators matter on 2 cores: the Python gRPC client spent about as much CPU per
  batch-32 request as the ONNX Runtime server did, which pulled every ratio towards 1.

Every cell is timed ``--duration`` seconds (two calls at least), cells interleaved over
``--rounds`` rounds, median kept; served cells also give the server's CPU µs per request
(``psutil``), in-process cells this process's. The issue's goal is judged per served
cell: images/s with ``--prefer_onnx_model`` >= 3x without. A ratio from one run on one
(shared) machine; nothing asserts a timing.

    PYTHONPATH=src .venv/bin/python benchmarks/onnx_runtime.py              # ~4 min
    PYTHONPATH=src .venv/bin/python benchmarks/onnx_runtime.py --quick      # ~2 min

``--before-src OLD/src`` also serves the ONNX Runtime cells from another source tree, in
the same rounds, and prints this tree's images/s over that one's: the A/B of a change to
the request path.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from harness import h2load, tools, wrk
from harness.cpu import process_tree_cpu_s, wait_until_idle
from harness.grpc_requests import predict_request, write_grpc_frame
from harness.measurement import Measurement
from harness.models import BenchModel, mobilenet_v2, small_cnn
from harness.processes import free_port, running

GOAL = 3.0
"""Served images/s with ``--prefer_onnx_model`` over without, per cell (issue 12)."""
TENSORFLOW, ONNX = "TensorFlow", "ONNX Runtime"
BEFORE = "ONNX Runtime, --before-src"
"""The ``--prefer_onnx_model`` server from another source tree, for an A/B of a change."""
PLACES = ("in-process", "TF Serving gRPC", "V2 binary REST")


@dataclasses.dataclass
class Cell:
    """One timed call: a model, where it runs, which runtime, one batch size."""

    model: str
    place: str
    runtime: str
    batch: int
    call: Callable[[], Any]
    server_pid: int | None
    """The server whose CPU prices a request; None prices this process's CPU."""
    submit: Callable[[], Callable[[], Any]] | None = None
    """Sends one request and returns what waits for its answer (for ``in_flight`` > 1)."""
    in_flight: int = 1
    drive: Callable[[float], tuple[float, float]] | None = None
    """Drives the load itself for the given seconds (wrk); returns (calls, seconds)."""
    rates: list[float] = dataclasses.field(default_factory=list)
    cpu_us: list[float] = dataclasses.field(default_factory=list)

    def time(self, duration_s: float) -> None:
        """Append one images/s and CPU µs per call reading (after one untimed call)."""
        self.call()
        cpu_before = self._cpu_s()
        if self.drive is not None:
            calls, elapsed = self.drive(duration_s)
        else:
            calls = 0
            started = time.perf_counter()
            if self.submit is not None and self.in_flight > 1:
                calls = self._pipelined(self.submit, started, duration_s)
            while calls < 2 or time.perf_counter() - started < duration_s:
                self.call()
                calls += 1
            elapsed = time.perf_counter() - started
        cpu_after = self._cpu_s()
        self.rates.append(calls * self.batch / elapsed)
        if cpu_before is not None and cpu_after is not None:
            self.cpu_us.append((cpu_after - cpu_before) / calls * 1e6)

    def _pipelined(
        self, submit: Callable[[], Callable[[], Any]], started: float, duration_s: float
    ) -> int:
        """Answers received with ``in_flight`` requests kept outstanding, oldest first;
        the ones still out at the end are waited for and counted."""
        waiting = collections.deque(submit() for _ in range(self.in_flight))
        calls = 0
        while time.perf_counter() - started < duration_s:
            waiting.popleft()()
            calls += 1
            waiting.append(submit())
        while waiting:
            waiting.popleft()()
            calls += 1
        return calls

    def _cpu_s(self) -> float | None:
        if self.server_pid is None:
            return time.process_time()
        return process_tree_cpu_s(self.server_pid)


def model_available(rest_target: str, model: str) -> Callable[[], bool]:
    """A readiness probe: ``model``'s status says AVAILABLE (not just 200 while loading)."""
    url = f"http://{rest_target}/v1/models/{model}"

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                states = json.loads(response.read())["model_version_status"]
        except (OSError, ValueError, KeyError):
            return False
        return any(state["state"] == "AVAILABLE" for state in states)

    return probe


@contextlib.contextmanager
def server(
    model: BenchModel,
    work: Path,
    prefer_onnx: bool,
    extra_flags: Sequence[str],
    onednn: bool,
    source: str | None = None,
) -> Iterator[tuple[int, str, str]]:
    """A ``tensorserve serve`` of ``model`` (from ``source``, a ``src/`` directory, when
    given); yields its pid, gRPC and REST targets."""
    grpc_port, rest_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "tensorserve", "serve", f"--port={grpc_port}",
        f"--rest_api_port={rest_port}", f"--model_name={model.name}",
        f"--model_base_path={model.base_path}", *extra_flags,
    ]  # fmt: skip
    if prefer_onnx:
        command.append("--prefer_onnx_model")
    env = {"TF_ENABLE_ONEDNN_OPTS": "1"} if onednn else {}
    if source is not None:
        env["PYTHONPATH"] = source
    tag = f"{'onnx' if prefer_onnx else 'tf'}{'-before' if source else ''}"
    log = work / f"server-{model.name}-{tag}.log"
    rest = f"127.0.0.1:{rest_port}"
    name = f"tensorserve {model.name} {prefer_onnx=} {source=}"
    with running(name, command, model_available(rest, model.name), log, env=env) as process:
        if prefer_onnx:
            runtimes = [line for line in log.read_text().splitlines() if "Runtimes of" in line]
            print(f"{model.name} with --prefer_onnx_model: {runtimes}", file=sys.stderr)
        yield process.pid, f"127.0.0.1:{grpc_port}", rest


Call = Callable[[], Any]
"""One request, answered."""
Submit = Callable[[], Callable[[], Any]]
"""One request sent; the returned callable waits for its answer."""


def grpc_call(target: str, model: BenchModel, batch: np.ndarray) -> tuple[Call, Submit]:
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest.FromString(predict_request(model, batch))
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return (
        lambda: stub.Predict(request, timeout=60),
        lambda: stub.Predict.future(request, timeout=60).result,
    )


def v2_binary_call(target: str, model: BenchModel, batch: np.ndarray) -> tuple[Call, None]:
    import tritonclient.http as triton_http

    client = triton_http.InferenceServerClient(target, network_timeout=60.0)
    tensor = triton_http.InferInput(model.input_name, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=True)
    output = triton_http.InferRequestedOutput(model.output_name, binary_data=True)
    return lambda: client.infer(model.name, [tensor], outputs=[output]), None


def grpc_h2load(
    target: str, model: BenchModel, batch: np.ndarray, connections: int, work: Path
) -> Callable[[float], tuple[float, float]] | None:
    """h2load POSTing ``batch`` as one prebuilt Predict frame over ``connections``
    connections, one stream each (None without h2load). h2load sees only HTTP status;
    the cell's ``call`` checks the answer through a real client first."""
    tool = tools.debian_tool("h2load", "nghttp2-client", work / "install.log")
    if not tool.available:
        print(f"gRPC rows keep the Python client: {tool.reason}", file=sys.stderr)
        return None
    frame = write_grpc_frame(
        work / f"grpc-{model.name}-{len(batch)}-{free_port()}.bin", predict_request(model, batch)
    )

    return until_answered(
        lambda seconds: h2load.run(
            tool.path, target, frame, connections, seconds, model.name, "grpc", work
        ),
        connections,
        f"h2load against {target}",
    )


def v2_binary_wrk(
    target: str, model: BenchModel, batch: np.ndarray, connections: int, work: Path
) -> Callable[[float], tuple[float, float]] | None:
    """wrk POSTing ``batch`` as tritonclient's binary-extension body over
    ``connections`` connections (None without wrk)."""
    import tritonclient.http as triton_http

    wrk_tool = tools.debian_tool("wrk", "wrk", work / "install.log")
    if not wrk_tool.available:
        print(f"V2 REST rows left out: {wrk_tool.reason}", file=sys.stderr)
        return None
    tensor = triton_http.InferInput(model.input_name, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=True)
    output = triton_http.InferRequestedOutput(model.output_name, binary_data=True)
    body, json_size = triton_http.InferenceServerClient.generate_request_body([tensor], [output])
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(json_size),
    }
    script = wrk.write_binary_script(
        work / f"v2-{model.name}-{len(batch)}-{free_port()}.lua", bytes(body), headers
    )
    url = f"http://{target}/v2/models/{model.name}/infer"

    return until_answered(
        lambda seconds: wrk.run(wrk_tool.path, url, script, connections, seconds, model.name, "v2"),
        connections,
        f"wrk against {url}",
    )


def until_answered(
    run: Callable[[int], Measurement], connections: int, what: str
) -> Callable[[float], tuple[float, float]]:
    """A cell's drive from one load-generator run of so many seconds. wrk and h2load
    count only answered requests, so a slow model's cell runs longer (doubling) until
    at least two answers per connection came back, or a minute passed."""

    def drive(duration_s: float) -> tuple[float, float]:
        seconds = max(1, round(duration_s))
        while True:
            cell = run(seconds)
            if cell.unavailable or cell.errors:
                raise RuntimeError(f"{what}: {cell.unavailable or f'{cell.errors} errors'}")
            calls = cell.requests_per_s * seconds
            if calls >= 2 * connections or seconds >= 60:
                return calls, seconds
            seconds *= 2

    return drive


def predict_call(servable: Any, input_name: str, batch: np.ndarray) -> Callable[[], Any]:
    return lambda: servable.predict("", {input_name: batch})


def in_process_cells(
    model: BenchModel, batches: dict[int, np.ndarray], stack: contextlib.ExitStack
) -> list[Cell]:
    """The server's TensorFlow call and its ``--prefer_onnx_model`` call, in this process."""
    from tensorserve.core.servable_id import ServableId
    from tensorserve.platforms.onnx.twin_loader import TwinLoader
    from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader

    servable_id = ServableId(model.name, model.version)
    plain = SavedModelLoader(servable_id, model.version_path)
    twin = TwinLoader(
        SavedModelLoader(servable_id, model.version_path), model.version_path, require_faster=False
    )
    for loader in (plain, twin):
        loader.load()
        stack.callback(loader.unload)
    cells = []
    for n, batch in batches.items():
        for runtime, loader in ((TENSORFLOW, plain), (ONNX, twin)):
            cells.append(
                Cell(
                    model.name,
                    "in-process",
                    runtime,
                    n,
                    predict_call(loader.servable(), model.input_name, batch),
                    None,
                )
            )
    return cells


def served_cells(
    model: BenchModel,
    batches: dict[int, np.ndarray],
    work: Path,
    args: argparse.Namespace,
    stack: contextlib.ExitStack,
) -> list[Cell]:
    cells = []
    servers: list[tuple[str, bool, str | None]] = [(TENSORFLOW, False, None), (ONNX, True, None)]
    if args.before_src:
        servers.append((BEFORE, True, str(Path(args.before_src).resolve())))
    for runtime, prefer_onnx, source in servers:
        pid, grpc_target, rest_target = stack.enter_context(
            server(model, work, prefer_onnx, args.server_flag, args.server_onednn, source)
        )
        for n, batch in batches.items():
            call, submit = grpc_call(grpc_target, model, batch)
            grpc_drive = None
            if args.in_flight > 1 and args.grpc_driver == "h2load":
                grpc_drive = grpc_h2load(grpc_target, model, batch, args.in_flight, work)
            cells.append(
                Cell(
                    model.name,
                    PLACES[1],
                    runtime,
                    n,
                    call,
                    pid,
                    submit,
                    args.in_flight,
                    drive=grpc_drive,
                )
            )
            call, _ = v2_binary_call(rest_target, model, batch)
            drive = None
            if args.in_flight > 1:
                # tritonclient's async_infer with several requests out ran at ~90
                # requests/s whatever the model (a client-side stall, not the server's),
                # so wrk keeps the requests in flight; ``call`` still checks the server once.
                drive = v2_binary_wrk(rest_target, model, batch, args.in_flight, work)
                if drive is None:
                    continue
            cells.append(Cell(model.name, PLACES[2], runtime, n, call, pid, drive=drive))
    return cells


def report(cells: list[Cell]) -> None:
    """One markdown table: per model, place and batch, both runtimes side by side."""
    by_key = {(c.model, c.place, c.batch, c.runtime): c for c in cells}

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def cpu(cell: Cell) -> str:
        value = median(cell.cpu_us)
        return "-" if value is None else f"{value:,.0f}"

    print(
        "| model | where | batch | TensorFlow images/s | ONNX Runtime images/s | ONNX / TF "
        "| CPU µs/req TF | CPU µs/req ONNX | goal >= 3x |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---|"
    )
    for model, place, batch, runtime in by_key:
        if runtime != TENSORFLOW:
            continue
        tf_cell, onnx_cell = (
            by_key[model, place, batch, TENSORFLOW],
            by_key[model, place, batch, ONNX],
        )
        tf_rate, onnx_rate = statistics.median(tf_cell.rates), statistics.median(onnx_cell.rates)
        ratio = onnx_rate / tf_rate
        goal = "" if place == "in-process" else ("PASS" if ratio >= GOAL else "MISS")
        print(
            f"| {model} | {place} | {batch} | {tf_rate:,.1f} | {onnx_rate:,.1f} | {ratio:.2f}x "
            f"| {cpu(tf_cell)} | {cpu(onnx_cell)} | {goal} |"
        )
    befores = [key for key in by_key if key[3] == BEFORE]
    if not befores:
        return
    print(
        "\n| model | where | batch | ONNX images/s, --before-src | this tree | this / before "
        "| CPU µs/req before | CPU µs/req this |\n|---|---|---|---:|---:|---:|---:|---:|"
    )
    for model, place, batch, _ in befores:
        before, after = by_key[model, place, batch, BEFORE], by_key[model, place, batch, ONNX]
        before_rate, after_rate = statistics.median(before.rates), statistics.median(after.rates)
        print(
            f"| {model} | {place} | {batch} | {before_rate:,.1f} | {after_rate:,.1f} "
            f"| {after_rate / before_rate:.2f}x | {cpu(before)} | {cpu(after)} |"
        )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn,mobilenet", help="cnn, mobilenet or both")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--mobilenet-size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--mobilenet-batches", default="1,32")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=1,
        help="requests each served cell's client keeps outstanding (1: closed loop)",
    )
    parser.add_argument(
        "--grpc-driver",
        choices=("h2load", "client"),
        default="h2load",
        help="with --in-flight > 1: h2load over N connections, or the Python client's futures",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 1 s cells, MobileNetV2 at batch 1 and 8"
    )
    parser.add_argument(
        "--server-onednn",
        action="store_true",
        help="serve with TF_ENABLE_ONEDNN_OPTS=1 (the server turns oneDNN off by default)",
    )
    parser.add_argument(
        "--server-flag",
        action="append",
        default=[],
        help="extra flag for both servers, e.g. --server-flag=--tensorflow_intra_op_parallelism=2",
    )
    parser.add_argument(
        "--before-src",
        help="another tree's src/ (git archive OLD src): its --prefer_onnx_model server is "
        "timed beside this tree's, and a second table gives the ratios",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.mobilenet_batches = 1.0, 1, "1,8"
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorserve.export.onnx_twins import write_twins

    started = time.monotonic()
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    rng = np.random.default_rng(0)
    cases: list[tuple[BenchModel, dict[int, np.ndarray]]] = []
    names = args.model.split(",")
    if "cnn" in names:
        cnn = small_cnn(work)
        print(f"small_cnn twin: {write_twins(cnn.version_path, 1e-4)['serving_default']}")
        cases.append((cnn, {n: rng.random((n, 28, 28, 1)).astype(np.float32) for n in (1, 32)}))
    if "mobilenet" in names:
        side = args.mobilenet_size
        mobilenet = mobilenet_v2(work, side)
        print(f"mobilenet_v2: {mobilenet.origin}")
        sizes = [int(n) for n in args.mobilenet_batches.split(",")]
        cases.append(
            (
                mobilenet,
                {n: rng.uniform(-1, 1, (n, side, side, 3)).astype(np.float32) for n in sizes},
            )
        )
    with contextlib.ExitStack() as stack:
        cells: list[Cell] = []
        for model, batches in cases:
            cells += in_process_cells(model, batches, stack)
            cells += served_cells(model, batches, work, args, stack)
        servers = sorted({cell.server_pid for cell in cells if cell.server_pid is not None})
        for _ in range(args.rounds):
            for cell in cells:
                wait_until_idle(servers)  # the last cell's abandoned requests end first
                cell.time(args.duration)
    report(cells)
    print(
        f"\nload average after: {os.getloadavg()}; {time.monotonic() - started:.0f} s in all; "
        f"{args.in_flight} request(s) in flight per served cell"
        f"{f' (gRPC: {args.grpc_driver})' if args.in_flight > 1 else ''}; "
        f"served with oneDNN {'on' if args.server_onednn else 'off (server default)'}, "
        f"extra server flags {args.server_flag or 'none'}; in-process TensorFlow as this "
        f"process imported it (TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
