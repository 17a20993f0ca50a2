"""The one table, the ratios between its rows, and the goals from the issue.

Pure functions of a list of measurements taken in one run (no I/O), so the same
numbers print as text and as Markdown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from .measurement import Measurement

HALF_PLUS_TWO = "half_plus_two"
SMALL_CNN = "small_cnn"
IN_PROCESS = "in-process (limit)"
IN_PROCESS_BATCHED = "in-process, batch {batch}"
IN_PROCESS_FUNCTION = "in-process, TF2 signature fn"
REST = "tensorserve REST"
GRPC = "tensorserve gRPC"
REST_BATCHING = "tensorserve REST +batching"
GRPC_BATCHING = "tensorserve gRPC +batching"
V2_REST = "tensorserve V2 REST (JSON)"
V2_GRPC = "tensorserve V2 gRPC"
V2_BATCH = 32
V2_REST_BINARY_BATCH = f"tensorserve V2 REST (binary), batch {V2_BATCH}"
V2_GRPC_BATCH = f"tensorserve V2 gRPC, batch {V2_BATCH}"
FLASK = "Flask+gunicorn, 2 workers"
MLSERVER = "MLServer, 2 workers"
PEERS = (FLASK, MLSERVER)
MODEL_ORDER = (HALF_PLUS_TWO, SMALL_CNN)
TARGET_ORDER = (
    IN_PROCESS,
    IN_PROCESS_FUNCTION,
    IN_PROCESS_BATCHED.format(batch=32),
    REST,
    GRPC,
    V2_REST,
    V2_GRPC,
    V2_REST_BINARY_BATCH,
    V2_GRPC_BATCH,
    REST_BATCHING,
    GRPC_BATCHING,
    FLASK,
    MLSERVER,
)
HEADER = (
    "model",
    "target",
    "conc",
    "req/s",
    "p50 ms",
    "p99 ms",
    "x limit",
    "CPU us/req",
    "load gen / note",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Goal:
    """One goal's verdict: PASS, MISS, or N/A when a cell it needs is missing."""

    text: str
    verdict: str
    evidence: str


class Results:
    """The measurements of one run, looked up by model, target and concurrency.
    Not thread-safe; build it after measuring."""

    def __init__(self, measurements: Iterable[Measurement]) -> None:
        self.rows = list(measurements)
        self._cells = {(m.model, m.target, m.concurrency): m for m in self.rows}

    def get(self, model: str, target: str, concurrency: int) -> Measurement | None:
        cell = self._cells.get((model, target, concurrency))
        return cell if cell is not None and cell.ok else None

    def best(self, model: str, target: str) -> Measurement | None:
        """``target``'s fastest measured cell for ``model``, at any concurrency."""
        cells = [m for m in self.rows if m.model == model and m.target == target and m.ok]
        return max(cells, key=lambda m: m.requests_per_s, default=None)

    def ratio(self, model: str, target: str, other: str, concurrency: int) -> float | None:
        """``target``'s req/s over ``other``'s at the same concurrency, if both exist."""
        mine, theirs = self.get(model, target, concurrency), self.get(model, other, concurrency)
        if mine is None or theirs is None:
            return None
        return mine.requests_per_s / theirs.requests_per_s


def table_rows(results: Results) -> list[tuple[str, ...]]:
    """The table's cells as strings, one row per measurement, grouped by model and target."""
    rows: list[tuple[str, ...]] = []
    for cell in sorted(results.rows, key=_table_order):
        if not cell.ok:
            reason = cell.unavailable or "no successful requests"
            rows.append((cell.model, cell.target, str(cell.concurrency), *["-"] * 5, reason))
            continue
        limit = results.ratio(cell.model, cell.target, IN_PROCESS, cell.concurrency)
        note = cell.load_generator + (f", {cell.errors} errors" if cell.errors else "")
        rows.append(
            (
                cell.model,
                cell.target,
                str(cell.concurrency),
                f"{cell.requests_per_s:,.0f}",
                f"{cell.p50_ms:.2f}",
                f"{cell.p99_ms:.2f}",
                "-" if limit is None else f"{limit:.2f}",
                "-" if cell.cpu_us_per_request is None else f"{cell.cpu_us_per_request:,.0f}",
                note,
            )
        )
    return rows


def peer_ratios(results: Results, concurrencies: Sequence[int]) -> list[tuple[str, ...]]:
    """half_plus_two: each tensorserve transport's req/s over each peer's, per concurrency."""
    rows = []
    for target in (REST, GRPC, V2_REST, V2_GRPC):
        for peer in (IN_PROCESS, IN_PROCESS_FUNCTION, *PEERS):
            cells = [results.ratio(HALF_PLUS_TWO, target, peer, c) for c in concurrencies]
            rows.append((f"{target} / {peer}", *("-" if r is None else f"{r:.2f}x" for r in cells)))
    return rows


def goals(results: Results) -> list[Goal]:
    """The issue's goals, each judged on this run's numbers."""
    found = []
    for target in (REST, GRPC):
        for other, minimum in (
            (IN_PROCESS, 0.70),
            (IN_PROCESS_FUNCTION, 0.70),
            (FLASK, 2.0),
            (MLSERVER, 5.0),
        ):
            found.append(
                _at_least(
                    f"half_plus_two c=8: {target} >= {minimum:.2f}x {other}",
                    results.ratio(HALF_PLUS_TWO, target, other, 8),
                    minimum,
                )
            )
    # Issue 13, part 2: gRPC at least as fast as REST, and no queueing tail at c=32.
    found.append(
        _at_least(
            f"half_plus_two c=8: {GRPC} >= 1.00x {REST}",
            results.ratio(HALF_PLUS_TWO, GRPC, REST, 8),
            1.0,
        )
    )
    cell = results.get(HALF_PLUS_TWO, GRPC, 32)
    spread = cell.p99_ms / cell.p50_ms if cell and cell.p50_ms > 0 else None
    found.append(_at_most(f"half_plus_two c=32: {GRPC} p99 < 3x p50", spread, 3.0))
    for reference in (IN_PROCESS, IN_PROCESS_FUNCTION):
        limits = [results.get(HALF_PLUS_TWO, reference, c) for c in (1, 8, 32)]
        best_limit = max((cell.requests_per_s for cell in limits if cell), default=None)
        for target in (REST_BATCHING, GRPC_BATCHING):
            served = results.get(HALF_PLUS_TWO, target, 32)
            ratio = served.requests_per_s / best_limit if served and best_limit else None
            found.append(
                _at_least(
                    f"half_plus_two c=32: {target} > best batch-1 rate of {reference}",
                    ratio,
                    1.0,
                    strictly=True,
                )
            )
    for batched, plain in ((REST_BATCHING, REST), (GRPC_BATCHING, GRPC)):
        found.append(
            _at_least(
                f"small_cnn c=32: {batched} >= 4x images/s of {plain}",
                results.ratio(SMALL_CNN, batched, plain, 32),
                4.0,
            )
        )
        cell = results.get(SMALL_CNN, batched, 32)
        spread = cell.p99_ms / cell.p50_ms if cell and cell.p50_ms > 0 else None
        found.append(_at_most(f"small_cnn c=32: {batched} p99 < 3x p50", spread, 3.0))
    return found + v2_goals(results)


def v2_goals(results: Results) -> list[Goal]:
    """The Open Inference Protocol goals: batch-32 CNN rate over V2 against the in-process
    batch-32 call, V2 JSON REST against MLServer, and V2 against TF Serving REST."""
    found = []
    limit = results.get(SMALL_CNN, IN_PROCESS_BATCHED.format(batch=V2_BATCH), V2_BATCH)
    for target in (V2_REST_BINARY_BATCH, V2_GRPC_BATCH):
        served = results.best(SMALL_CNN, target)
        ratio = served.requests_per_s / limit.requests_per_s if served and limit else None
        found.append(
            _at_least(
                f"small_cnn: {target} images/s >= 0.5x in-process batch {V2_BATCH}", ratio, 0.5
            )
        )
    found.append(
        _at_least(
            f"half_plus_two c=8: {V2_REST} >= 1.00x {MLSERVER}",
            results.ratio(HALF_PLUS_TWO, V2_REST, MLSERVER, 8),
            1.0,
        )
    )
    for target, other in ((V2_REST, REST), (V2_GRPC, REST), (V2_GRPC, GRPC)):
        # V2 gRPC against TF Serving gRPC too: the same transport and load generator.
        found.append(
            _at_least(
                f"half_plus_two c=8: {target} >= 0.90x {other}",
                results.ratio(HALF_PLUS_TWO, target, other, 8),
                0.9,
            )
        )
    return found


def format_text(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Rows as an aligned plain-text table."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [_join(header, widths), _join(["-" * width for width in widths], widths)]
    return "\n".join([*lines, *(_join(row, widths) for row in rows)])


def format_markdown(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Rows as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _table_order(cell: Measurement) -> tuple[int, int, int]:
    def index(order: Sequence[str], value: str) -> int:
        return order.index(value) if value in order else len(order)

    return index(MODEL_ORDER, cell.model), index(TARGET_ORDER, cell.target), cell.concurrency


def _join(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _at_least(text: str, value: float | None, minimum: float, strictly: bool = False) -> Goal:
    if value is None:
        return Goal(text, "N/A", "a cell it needs is missing")
    passed = value > minimum if strictly else value >= minimum
    return Goal(text, "PASS" if passed else "MISS", f"{value:.2f}x")


def _at_most(text: str, value: float | None, maximum: float) -> Goal:
    if value is None:
        return Goal(text, "N/A", "a cell it needs is missing")
    return Goal(text, "PASS" if value < maximum else "MISS", f"p99/p50 = {value:.2f}")
