"""Image batches over TensorFlow Serving's REST API: tensorserve before and after, MLServer,
and the in-process limit, in one run.

The small MNIST CNN (``harness/models.small_cnn``) gets 32 images per request:
TF Serving's ``{"instances": [...]}`` JSON (about 225 KB) to tensorserve, and
the same 32 images as V2 JSON to MLServer. "before" is tensorserve from another
source tree (``--before-src``, e.g. an exported older commit), started beside
this checkout's, so both are timed on the same machine in the same rounds.
Every cell is timed once per round, rounds interleaved, medians kept; each row
gives images/s, latency per request, and the server tree's CPU per request::

    git archive fbb462a src | tar -x -C /tmp/before
    python benchmarks/rest_image_batch.py --before-src /tmp/before/src --rounds 3 --duration 4

Each tensorserve without ``--prefer_onnx_model`` is also timed on its V2 route with
MLServer's own V2 JSON body (``tensorserve V2 REST JSON`` rows): the same body and
protocol as MLServer's row. A third tensorserve (this checkout) serves the CNN's
verified ONNX twin with ``--prefer_onnx_model`` (issue 12's fast path), so its row
shows what the same request costs when the model runs in ONNX Runtime;
``--skip-onnx`` leaves it out. Each ``--also=FLAG`` adds one more row: this checkout
started with that flag too (a tuning, measured beside the default).
The goals are read on the TensorFlow rows, like for like with MLServer's TensorFlow.

The load generator (wrk) shares the machine's cores with the servers.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from harness import inprocess, models, processes, report, targets, tools, wrk
from harness.cpu import process_tree_cpu_s
from harness.measurement import Measurement
from harness.suite import median_cell

BATCH = 32
AFTER = "tensorserve REST (this checkout)"
BEFORE = "tensorserve REST (--before-src)"
ONNX = "tensorserve REST --prefer_onnx_model"
V2_AFTER = "tensorserve V2 REST JSON (this checkout)"
V2_BEFORE = "tensorserve V2 REST JSON (--before-src)"
MLSERVER = "MLServer V2 REST (JSON), 2 workers"
LIMIT = f"in-process, batch {BATCH} (1 thread)"


@dataclasses.dataclass(frozen=True, slots=True)
class Cell:
    """A timed target: how to drive it once, and whose CPU to count."""

    label: str
    measure: Callable[[], Measurement]
    pid: int = 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not os.environ.get("TF_ENABLE_ONEDNN_OPTS"):
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    with (
        tempfile.TemporaryDirectory(prefix="tensorserve-image-batch-") as tmp,
        contextlib.ExitStack() as running,
    ):
        work_dir = Path(tmp)
        log = work_dir / "install.log"
        wrk_tool = tools.debian_tool("wrk", "wrk", log)
        if not wrk_tool.available:
            print(f"wrk is needed: {wrk_tool.reason}", file=sys.stderr)
            return 1
        model = models.small_cnn(work_dir)
        of_batch = running.enter_context(inprocess.loaded_predict(model))
        limit = of_batch(BATCH)
        expected = np.asarray(limit()[model.output_name])
        cells = [
            Cell(
                LIMIT,
                functools.partial(
                    inprocess.measure, limit, model.name, LIMIT, 1, args.duration, args.warmup
                ),
            )
        ]
        # Three decimals per pixel, as the harness's row body: about 225 KB for 32 images.
        rest_body = json.dumps({"instances": [model.row_input] * BATCH}).encode()
        src = str(models.REPO_ROOT / "src")
        servers: list[tuple[str, str, tuple[str, ...]]] = [(AFTER, src, ())]
        if args.before_src:
            servers.append((BEFORE, str(Path(args.before_src).resolve()), ()))
        for flag in args.also:  # this checkout again, with one more flag: a tuning's row
            servers.append((f"{AFTER} {flag}", src, (flag,)))
        if not args.skip_onnx:
            from tensorserve.export.onnx_twins import write_twins

            twin = write_twins(model.version_path, 1e-4)["serving_default"]
            print(f"small_cnn twin: {twin}", file=sys.stderr)
            servers.append((ONNX, src, ("--prefer_onnx_model",)))
        v2_body = _v2_body(model)
        v2_labels = {AFTER: V2_AFTER, BEFORE: V2_BEFORE}
        for label, source, flags in servers:
            endpoints = running.enter_context(_tensorserve(model, work_dir, label, source, flags))
            _check(endpoints.predict_url, rest_body, expected, "predictions")
            cells.append(_wrk_cell(label, endpoints, rest_body, work_dir, wrk_tool.path, args))
            if label in v2_labels:  # MLServer's own body, to the same server's V2 route
                v2 = dataclasses.replace(endpoints, predict_url=endpoints.v2_infer_url)
                _check(v2.predict_url, v2_body, expected, "outputs")
                cell = _wrk_cell(v2_labels[label], v2, v2_body, work_dir, wrk_tool.path, args)
                cells.append(cell)
        if not args.skip_mlserver:
            mlserver = tools.mlserver(log)
            if mlserver.available:
                endpoints = running.enter_context(
                    targets.start_mlserver(mlserver.path, model, work_dir)
                )
                _check(endpoints.predict_url, v2_body, expected, "outputs")
                cells.append(_wrk_cell(MLSERVER, endpoints, v2_body, work_dir, wrk_tool.path, args))
            else:
                print(f"MLServer skipped: {mlserver.reason}", file=sys.stderr)
        results = _run_rounds(cells, args)
    print(_render(results, args, len(rest_body)))
    return 0


@contextlib.contextmanager
def _tensorserve(
    model: models.BenchModel, work_dir: Path, label: str, source: str, flags: tuple[str, ...]
) -> Iterator[targets.Endpoints]:
    """``python -m tensorserve serve [flags]`` with ``source`` first on PYTHONPATH."""
    rest_port, grpc_port = processes.free_port(), processes.free_port()
    command = [
        sys.executable,
        "-m",
        "tensorserve",
        "serve",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_name={model.name}",
        f"--model_base_path={model.base_path}",
        *flags,
    ]
    rest = f"http://127.0.0.1:{rest_port}"
    ready = processes.http_ready(f"{rest}/v1/models/{model.name}")
    name = label.split("(")[-1].strip(")-").replace(" ", "-").replace("--", "")
    env = {"PYTHONPATH": source, "PYTHONUNBUFFERED": "1"}
    with processes.running(name, command, ready, work_dir / f"{name}.log", env) as process:
        yield targets.Endpoints(
            f"{rest}/v1/models/{model.name}:predict",
            pid=process.pid,
            v2_infer_url=f"{rest}/v2/models/{model.name}/infer",
        )


def _check(url: str, body: bytes, expected: np.ndarray, key: str) -> None:
    status, answer = processes.http_call(url, body)
    if status != 200:
        raise targets.WrongAnswer(f"{url}: HTTP {status}: {answer[:300]!r}")
    value = json.loads(answer)[key]
    if key == "outputs":
        value = value[0]["data"]
    actual = np.asarray(value, dtype=np.float64).reshape(expected.shape)
    if not np.allclose(actual, expected, rtol=1e-4, atol=1e-5):
        raise targets.WrongAnswer(f"{url}: wrong answer")


def _v2_body(model: models.BenchModel) -> bytes:
    """The same 32 images (the same decimal text) as V2 JSON, MLServer's REST body."""
    pixels = np.asarray(model.row_input).ravel().tolist()
    tensor = {
        "name": model.input_name,
        "shape": [BATCH, *model.sample.shape[1:]],
        "datatype": "FP32",
        "data": pixels * BATCH,
    }
    return json.dumps({"inputs": [tensor]}).encode()


def _wrk_cell(
    label: str,
    endpoints: targets.Endpoints,
    body: bytes,
    work_dir: Path,
    wrk_path: str,
    args: argparse.Namespace,
) -> Cell:
    script = wrk.write_binary_script(
        work_dir / f"{re.sub(r'[^A-Za-z0-9]+', '-', label)}-{endpoints.pid}.lua",
        body,
        {"Content-Type": "application/json"},
    )
    url = endpoints.predict_url
    wrk.run(wrk_path, url, script, args.concurrency, args.warmup, "", "")
    measure = functools.partial(
        wrk.run, wrk_path, url, script, args.concurrency, args.duration, "small_cnn", label
    )
    return Cell(label, measure, endpoints.pid)


def _run_rounds(cells: list[Cell], args: argparse.Namespace) -> list[Measurement]:
    taken: list[list[Measurement]] = [[] for _ in cells]
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number} of {args.rounds}", file=sys.stderr, flush=True)
        for cell, results in zip(cells, taken, strict=True):
            results.append(_priced(cell, args.duration))
    return [median_cell(results) for results in taken]


def _priced(cell: Cell, duration_s: float) -> Measurement:
    """One timing of ``cell``, as images/s, with the server tree's CPU per request."""
    before = process_tree_cpu_s(cell.pid) if cell.pid else None
    measured = cell.measure()
    after = process_tree_cpu_s(cell.pid) if cell.pid else None
    if not measured.ok:
        return measured
    cpu = measured.cpu_us_per_request
    if before is not None and after is not None:
        cpu = (after - before) / (measured.requests_per_s * round(duration_s)) * 1e6
    return dataclasses.replace(
        measured, requests_per_s=measured.requests_per_s * BATCH, cpu_us_per_request=cpu
    )


def _render(results: list[Measurement], args: argparse.Namespace, body_bytes: int) -> str:
    by_label = {cell.target: cell for cell in results if cell.ok}
    limit = by_label.get(LIMIT)
    header = ("target", "conc", "images/s", "req/s", "p50 ms", "p99 ms", "x limit", "CPU us/req")
    rows = []
    for cell in results:
        if not cell.ok:
            rows.append((cell.target, str(cell.concurrency), *["-"] * 6))
            continue
        batches = cell.requests_per_s / BATCH
        ratio = cell.requests_per_s / limit.requests_per_s if limit else None
        rows.append(
            (
                cell.target,
                str(cell.concurrency),
                f"{cell.requests_per_s:,.0f}",
                f"{batches:,.1f}",
                f"{cell.p50_ms:.1f}",
                f"{cell.p99_ms:.1f}",
                "-" if ratio is None else f"{ratio:.2f}",
                "-" if cell.cpu_us_per_request is None else f"{cell.cpu_us_per_request:,.0f}",
            )
        )

    def ratio(mine: str, other: str) -> str:
        a, b = by_label.get(mine), by_label.get(other)
        return "-" if a is None or b is None else f"{a.requests_per_s / b.requests_per_s:.2f}x"

    lines = [
        f"small_cnn, {BATCH} images per request ({body_bytes:,} bytes of JSON), "
        f"c={args.concurrency}; median of {args.rounds} rounds of {args.duration:g} s; "
        f"machine: {os.cpu_count()} cores shared by wrk and the servers; "
        f"1-min load average at the end: {os.getloadavg()[0]:.1f}",
        report.format_text(rows, header),
        "",
        f"goal: {AFTER} >= 0.50x {LIMIT}: {ratio(AFTER, LIMIT)}",
        f"goal: {AFTER} >= 2.00x {MLSERVER}: {ratio(AFTER, MLSERVER)}",
        f"before: {BEFORE} / {LIMIT}: {ratio(BEFORE, LIMIT)}; "
        f"/ {MLSERVER}: {ratio(BEFORE, MLSERVER)}; after / before: {ratio(AFTER, BEFORE)}",
        f"not a goal (ONNX Runtime against MLServer's TensorFlow): {ONNX} / {MLSERVER}: "
        f"{ratio(ONNX, MLSERVER)}; / {AFTER}: {ratio(ONNX, AFTER)}",
        f"V2 JSON, the same body to both: {V2_AFTER} / {MLSERVER}: "
        f"{ratio(V2_AFTER, MLSERVER)}; after / before: {ratio(V2_AFTER, V2_BEFORE)}",
        *(
            f"with {flag}: / {MLSERVER}: {ratio(f'{AFTER} {flag}', MLSERVER)}; "
            f"/ {LIMIT}: {ratio(f'{AFTER} {flag}', LIMIT)}; "
            f"/ {AFTER}: {ratio(f'{AFTER} {flag}', AFTER)}"
            for flag in args.also
        ),
    ]
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before-src", help="another tensorserve src/ to time beside this one")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--skip-mlserver", action="store_true")
    parser.add_argument("--skip-onnx", action="store_true", help="no --prefer_onnx_model row")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="FLAG",
        help="one more tensorserve row, this checkout with FLAG "
        "(e.g. --also=--tensorflow_intra_op_parallelism=1); repeatable",
    )
    return parser.parse_args(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
