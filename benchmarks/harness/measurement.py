"""One cell of the benchmark table and the statistics that fill it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True, slots=True)
class Measurement:
    """Throughput and latency of one target, model and concurrency. Immutable.

    ``requests_per_s`` counts only correct (2xx / OK) answers; ``errors`` the rest.
    A cell that could not be measured has ``unavailable`` set to the reason and
    zeros elsewhere, so the table can still say why it is empty.
    """

    model: str
    target: str
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    load_generator: str = ""
    unavailable: str = ""
    cpu_us_per_request: float | None = None
    """CPU time the serving side (server tree, or this process in-process) spent per
    successful request; None when unknown."""

    @classmethod
    def missing(cls, model: str, target: str, concurrency: int, reason: str) -> Measurement:
        """A cell that could not be measured, with why."""
        return cls(model, target, concurrency, 0.0, 0.0, 0.0, unavailable=reason)

    @property
    def ok(self) -> bool:
        return not self.unavailable and self.requests_per_s > 0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in [0, 1]) of ascending values; 0 if empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def from_latencies(
    model: str,
    target: str,
    concurrency: int,
    latencies_s: Sequence[float],
    elapsed_s: float,
    errors: int = 0,
    load_generator: str = "",
) -> Measurement:
    """A measurement from per-request latencies (seconds) of successful requests."""
    ordered = sorted(latencies_s)
    return Measurement(
        model=model,
        target=target,
        concurrency=concurrency,
        requests_per_s=len(ordered) / elapsed_s if elapsed_s > 0 else 0.0,
        p50_ms=percentile(ordered, 0.50) * 1e3,
        p99_ms=percentile(ordered, 0.99) * 1e3,
        errors=errors,
        load_generator=load_generator,
    )
