"""Start every target, then time them in interleaved rounds and keep the medians.

Each target is started on free ports, answered once correctly (or marked
unavailable with the reason) and warmed up; its cells (one per concurrency)
are only registered. ``run_rounds`` then times every registered cell once per
round, round after round, so all targets see the same machine: on a shared
2-core VM whose speed drifts by tens of percent within a minute, timing one
target after another skewed the ratios more than the changes being measured.
Each table cell is the median of its rounds. Idle servers wait between their
cells. Not thread-safe: one suite runs on one thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import grpc_fallback, h2load, inprocess, targets, v2_requests, wrk
from .cpu import process_tree_cpu_s
from .grpc_requests import PREDICT_METHOD, predict_request, write_grpc_frame
from .measurement import Measurement
from .models import BenchModel
from .processes import ServerFailed
from .report import (
    FLASK,
    GRPC,
    GRPC_BATCHING,
    IN_PROCESS,
    IN_PROCESS_BATCHED,
    IN_PROCESS_FUNCTION,
    MLSERVER,
    REST,
    REST_BATCHING,
    V2_GRPC,
    V2_GRPC_BATCH,
    V2_REST,
    V2_REST_BINARY_BATCH,
)
from .tools import Tool

Check = Callable[[targets.Endpoints, BenchModel, np.ndarray], None]
V2_BATCH_CONCURRENCY = 2
"""Connections sending batch requests over V2: one computes while the other's request
and answer are converted, on this 2-core machine."""


@dataclasses.dataclass(frozen=True, slots=True)
class SuiteOptions:
    """How long and how hard to drive each cell."""

    duration_s: float = 4.0
    """Timed seconds per cell and round."""
    warmup_s: float = 2.0
    """Untimed load per target before its first cell."""
    rounds: int = 3
    """Times each cell is measured, interleaved with every other cell; the table has
    the median."""
    concurrencies: tuple[int, ...] = (1, 8, 32)

    @property
    def cell_seconds(self) -> int:
        """``duration_s`` as the whole seconds wrk and h2load accept."""
        return max(1, round(self.duration_s))


class BenchmarkSuite:
    """Collects Measurements into ``self.measurements`` as each target is driven."""

    def __init__(
        self, options: SuiteOptions, work_dir: Path, wrk_tool: Tool, h2load_tool: Tool
    ) -> None:
        self.options = options
        self.work_dir = work_dir
        self.wrk = wrk_tool
        self.h2load = h2load_tool
        self.measurements: list[Measurement] = []
        self._expected: dict[str, np.ndarray] = {}
        self._started = time.monotonic()
        self._cells: list[Callable[[], Measurement]] = []
        self._running = contextlib.ExitStack()  # targets stay up until close()

    def close(self) -> None:
        """Stop every target still running."""
        self._running.close()

    def run_rounds(self) -> None:
        """Time every registered cell once per round; record the median of each."""
        taken: list[list[Measurement]] = [[] for _ in self._cells]
        for round_number in range(1, self.options.rounds + 1):
            self._say(f"round {round_number} of {self.options.rounds}")
            for cell, results in zip(self._cells, taken, strict=True):
                results.append(cell())
        self._cells = []
        for results in taken:
            self._record(median_cell(results))

    def in_process(self, model: BenchModel, concurrencies: Sequence[int], batched: int = 0) -> None:
        """The limit: N threads calling the loaded model's predict. Also records the answer
        every server must reproduce. With ``batched``, also one thread calling predict on
        ``batched`` copies at once (the ceiling for server-side batching), as items/s."""
        of_batch = self._running.enter_context(inprocess.loaded_predict(model))
        predict = of_batch(1)
        self._expected[model.name] = np.asarray(predict()[model.output_name])
        if batched:
            self._cells.append(
                functools.partial(self._in_process_batched, of_batch(batched), model, batched)
            )
        self._in_process_cells(predict, model, IN_PROCESS, concurrencies)

    def in_process_function(self, model: BenchModel, concurrencies: Sequence[int]) -> None:
        """The model called the TF2 way (its serving signature's concrete function), as the
        Flask baseline calls it: a second reference, slower than the server's own call."""
        predict = self._running.enter_context(inprocess.loaded_signature_function(model))
        self._in_process_cells(predict, model, IN_PROCESS_FUNCTION, concurrencies)

    def _in_process_cells(
        self,
        predict: inprocess.Predict,
        model: BenchModel,
        label: str,
        concurrencies: Sequence[int],
    ) -> None:
        for concurrency in concurrencies:
            self._cells.append(
                functools.partial(
                    inprocess.measure,
                    predict,
                    model.name,
                    label,
                    concurrency,
                    self.options.duration_s,
                    self.options.warmup_s,
                )
            )

    def _in_process_batched(
        self, predict: inprocess.Predict, model: BenchModel, batch: int
    ) -> Measurement:
        options = self.options
        label = IN_PROCESS_BATCHED.format(batch=batch)
        cell = inprocess.measure(
            predict, model.name, label, 1, options.duration_s, options.warmup_s
        )
        cpu = None if cell.cpu_us_per_request is None else cell.cpu_us_per_request / batch
        return dataclasses.replace(
            cell,
            concurrency=batch,
            requests_per_s=cell.requests_per_s * batch,
            cpu_us_per_request=cpu,
            load_generator=f"1 thread; items/s, latency per {batch}-item call",
        )

    def tensorserve(
        self,
        model: BenchModel,
        batching: bool,
        concurrencies: Sequence[int],
        with_grpc: bool = True,
        v2: bool = False,
        v2_batch: int = 0,
    ) -> None:
        """tensorserve's REST then (``with_grpc``) gRPC front end, optionally with
        ``--enable_batching``. ``v2`` adds V2 JSON REST and V2 gRPC cells on the same
        server and concurrencies; ``v2_batch`` adds V2 binary REST and V2 gRPC cells of
        that many samples per request, reported per sample."""
        rest, grpc = (REST_BATCHING, GRPC_BATCHING) if batching else (REST, GRPC)
        labels = [rest, grpc] if with_grpc else [rest]
        try:
            endpoints = self._running.enter_context(
                targets.start_tensorserve(model, self.work_dir, batching)
            )
            self._drive_rest(rest, endpoints, model, targets.check_row_format, concurrencies)
            labels.remove(rest)
            if with_grpc:
                self._drive_grpc(grpc, endpoints, model, concurrencies)
                labels.remove(grpc)
        except ServerFailed as failure:
            self._unavailable(model, labels, concurrencies, failure)
            return
        if v2:
            v2_rest = dataclasses.replace(endpoints, predict_url=endpoints.v2_infer_url)
            self._drive_rest(V2_REST, v2_rest, model, targets.check_v2, concurrencies)
            self._drive_grpc(
                V2_GRPC,
                endpoints,
                model,
                concurrencies,
                check=targets.check_v2_grpc,
                message=v2_requests.infer_request(model),
                method=v2_requests.INFER_METHOD,
            )
        if v2_batch:
            self._drive_v2_batches(endpoints, model, v2_batch)

    def _drive_v2_batches(
        self, endpoints: targets.Endpoints, model: BenchModel, batch: int
    ) -> None:
        """V2 binary REST and V2 gRPC with ``batch`` samples per request, as samples/s."""
        concurrencies = (V2_BATCH_CONCURRENCY,)
        body, header_length = v2_requests.binary_rest_body(model, batch)
        script = wrk.write_binary_script(
            self.work_dir / f"{model.name}-v2-binary-{batch}.lua",
            body,
            {
                "Content-Type": "application/octet-stream",
                v2_requests.HEADER_LENGTH: str(header_length),
            },
        )
        v2_rest = dataclasses.replace(endpoints, predict_url=endpoints.v2_infer_url)
        first = len(self._cells)
        self._drive_rest(
            V2_REST_BINARY_BATCH, v2_rest, model, targets.check_v2_binary, concurrencies, script
        )
        self._drive_grpc(
            V2_GRPC_BATCH,
            endpoints,
            model,
            concurrencies,
            check=targets.check_v2_grpc,
            message=v2_requests.infer_request(model, batch),
            method=v2_requests.INFER_METHOD,
        )
        for index in range(first, len(self._cells)):
            self._cells[index] = functools.partial(_per_sample, self._cells[index], batch)

    def flask(self, model: BenchModel, concurrencies: Sequence[int]) -> None:
        """The hand-written Flask service under gunicorn."""
        try:
            endpoints = self._running.enter_context(targets.start_flask(model, self.work_dir))
            self._drive_rest(FLASK, endpoints, model, targets.check_row_format, concurrencies)
        except ServerFailed as failure:
            self._unavailable(model, [FLASK], concurrencies, failure)

    def mlserver(self, tool: Tool, model: BenchModel, concurrencies: Sequence[int]) -> None:
        """MLServer with the custom SavedModel runtime, over V2 REST."""
        if not tool.available:
            self._unavailable(model, [MLSERVER], concurrencies, tool.reason)
            return
        try:
            endpoints = self._running.enter_context(
                targets.start_mlserver(tool.path, model, self.work_dir)
            )
            self._drive_rest(MLSERVER, endpoints, model, targets.check_v2, concurrencies)
        except ServerFailed as failure:
            self._unavailable(model, [MLSERVER], concurrencies, failure)

    def _drive_rest(
        self,
        label: str,
        endpoints: targets.Endpoints,
        model: BenchModel,
        check: Check,
        concurrencies: Sequence[int],
        script: Path | None = None,
    ) -> None:
        if not self._answers_correctly(label, endpoints, model, check, concurrencies):
            return
        if not self.wrk.available:
            self._unavailable(model, [label], concurrencies, f"wrk: {self.wrk.reason}")
            return
        if script is None:
            body = model.v2_body() if check is targets.check_v2 else model.rest_body()
            # One script per target: cells run later, so each must keep its own body.
            path = self.work_dir / f"{model.name}-{len(self._cells)}.lua"
            script = wrk.write_script(path, body)
        url = endpoints.predict_url
        wrk.run(self.wrk.path, url, script, max(concurrencies), self.options.warmup_s, "", "")
        duration_s = self.options.cell_seconds
        for concurrency in concurrencies:
            self._cells.append(
                functools.partial(
                    self._priced,
                    endpoints.pid,
                    functools.partial(
                        wrk.run,
                        self.wrk.path,
                        url,
                        script,
                        concurrency,
                        duration_s,
                        model.name,
                        label,
                    ),
                )
            )

    def _drive_grpc(
        self,
        label: str,
        endpoints: targets.Endpoints,
        model: BenchModel,
        concurrencies: Sequence[int],
        check: Check = targets.check_grpc,
        message: bytes | None = None,
        method: str = PREDICT_METHOD,
    ) -> None:
        """gRPC cells posting ``message`` (TF Serving's PredictRequest unless given) to
        ``method``."""
        if not self._answers_correctly(label, endpoints, model, check, concurrencies):
            return
        path = self.work_dir / f"{model.name}-{len(self._cells)}.grpc"
        frame = write_grpc_frame(path, predict_request(model) if message is None else message)
        host_port, seconds = endpoints.grpc_target, self.options.cell_seconds
        warmup_s = self.options.warmup_s
        self._grpc_cell(host_port, frame, max(concurrencies), warmup_s, "", "", method)
        for concurrency in concurrencies:
            self._cells.append(
                functools.partial(
                    self._priced,
                    endpoints.pid,
                    functools.partial(
                        self._grpc_cell,
                        host_port,
                        frame,
                        concurrency,
                        seconds,
                        model.name,
                        label,
                        method,
                    ),
                )
            )

    def _priced(self, pid: int, measure: Callable[[], Measurement]) -> Measurement:
        """Run ``measure`` and add the server tree's CPU time per successful request
        (requests counted as req/s x the cell's whole seconds)."""
        before = process_tree_cpu_s(pid)
        cell = measure()
        after = process_tree_cpu_s(pid)
        requests = cell.requests_per_s * self.options.cell_seconds
        if before is None or after is None or requests <= 0:
            return cell
        return dataclasses.replace(cell, cpu_us_per_request=(after - before) / requests * 1e6)

    def _grpc_cell(
        self,
        host_port: str,
        frame: Path,
        concurrency: int,
        seconds: float,
        model: str,
        label: str,
        method: str = PREDICT_METHOD,
    ) -> Measurement:
        """h2load when it works, else the Python grpc.aio generator (marked in the table)."""
        if self.h2load.available:
            cell = h2load.run(
                self.h2load.path,
                host_port,
                frame,
                concurrency,
                seconds,
                model,
                label,
                self.work_dir,
                method,
            )
            if cell.ok:
                return cell
            self._say(f"{label} c={concurrency}: {cell.unavailable}; falling back to grpc.aio")
        return grpc_fallback.run(host_port, frame, concurrency, seconds, model, label, method)

    def _answers_correctly(
        self,
        label: str,
        endpoints: targets.Endpoints,
        model: BenchModel,
        check: Check,
        concurrencies: Sequence[int],
    ) -> bool:
        try:
            check(endpoints, model, self._expected[model.name])
        except Exception as error:  # any failure to answer means: do not time it
            reason = f"wrong or no answer: {type(error).__name__}: {error}"
            self._unavailable(model, [label], concurrencies, reason)
            return False
        self._say(f"{label} ({model.name}) answered correctly")
        return True

    def _unavailable(
        self,
        model: BenchModel,
        labels: Sequence[str],
        concurrencies: Sequence[int],
        reason: object,
    ) -> None:
        text = str(reason)
        self._say(f"{', '.join(labels)} ({model.name}) unavailable: {text}")
        short = text.splitlines()[0][:160].rstrip(":") if text else "unavailable"
        for label in labels:
            for concurrency in concurrencies:
                self.measurements.append(Measurement.missing(model.name, label, concurrency, short))

    def _record(self, cell: Measurement) -> None:
        self.measurements.append(cell)
        if cell.ok:
            summary = (
                f"{cell.requests_per_s:,.0f} req/s, p50 {cell.p50_ms:.2f} ms, "
                f"p99 {cell.p99_ms:.2f} ms"
            )
        else:
            summary = cell.unavailable
        self._say(f"{cell.target} ({cell.model}) c={cell.concurrency}: {summary}")

    def _say(self, line: str) -> None:
        print(f"[{time.monotonic() - self._started:5.0f}s] {line}", file=sys.stderr, flush=True)


def _per_sample(measure: Callable[[], Measurement], batch: int) -> Measurement:
    """A cell of ``batch``-sample requests, reported as samples/s and CPU per sample."""
    cell = measure()
    if not cell.ok:
        return cell
    cpu = None if cell.cpu_us_per_request is None else cell.cpu_us_per_request / batch
    return dataclasses.replace(
        cell,
        requests_per_s=cell.requests_per_s * batch,
        cpu_us_per_request=cpu,
        load_generator=f"{cell.load_generator}; images/s, latency per {batch}-image request",
    )


def median_cell(results: Sequence[Measurement]) -> Measurement:
    """One cell from its rounds: the median req/s, p50, p99 and CPU of the rounds that
    measured, errors summed; if no round measured, the first round's reason."""
    measured = [cell for cell in results if cell.ok]
    if not measured:
        return results[0]
    cpu = [cell.cpu_us_per_request for cell in measured if cell.cpu_us_per_request is not None]
    first = measured[0]
    return dataclasses.replace(
        first,
        requests_per_s=statistics.median(cell.requests_per_s for cell in measured),
        p50_ms=statistics.median(cell.p50_ms for cell in measured),
        p99_ms=statistics.median(cell.p99_ms for cell in measured),
        errors=sum(cell.errors for cell in results),
        cpu_us_per_request=statistics.median(cpu) if cpu else None,
    )
