"""Lean labelled counters, gauges and histograms, collected as Prometheus families.

prometheus-client's own metric classes cost 2-5 µs per update (locks per
value, exemplar checks, a linear bucket scan) and rename counters
(``_total``/``_created``). These cells cost a fraction of that: one lock per
cell, ``bisect`` over the bucket bounds, and a lock-free dict read to find a
labelled cell. A :class:`MetricSet` is a prometheus-client ``Collector`` that
yields each family under its exact name, so any registry can expose them.

Thread-safe: cells are updated under their own lock; a family's cell map is
replaced whole when a label set is added or removed.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString


class CounterCell:
    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        with self._lock:
            self.value += amount


class GaugeCell(CounterCell):
    __slots__ = ()

    def set(self, value: float) -> None:
        with self._lock:
            self.value = value


class HistogramCell:
    """Counts per bucket (``value <= bound``), the last bucket being +Inf."""

    __slots__ = ("_bounds", "_lock", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._lock = threading.Lock()
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self._bounds, value)
        with self._lock:
            self.counts[index] += 1
            self.sum += value

    def snapshot(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self.counts), self.sum


C = TypeVar("C", CounterCell, GaugeCell, HistogramCell)


class _Family(Generic[C]):
    """Cells of one metric by label values."""

    kind = "untyped"

    def __init__(self, name: str, documentation: str, label_names: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(label_names)
        self._cells: dict[tuple[str, ...], C] = {}
        self._lock = threading.Lock()
        if not self.label_names:
            self.labels()

    def _new_cell(self) -> C:
        raise NotImplementedError

    def labels(self, *values: str) -> C:
        """The cell for these label values, made on first use."""
        cell = self._cells.get(values)
        if cell is None:
            if len(values) != len(self.label_names):
                raise ValueError(f"{self.name} takes labels {self.label_names}, got {values}")
            with self._lock:
                cell = self._cells.get(values)
                if cell is None:
                    cell = self._new_cell()
                    self._cells = {**self._cells, values: cell}
        return cell

    def remove(self, *values: str) -> None:
        with self._lock:
            if values in self._cells:
                self._cells = {k: v for k, v in self._cells.items() if k != values}

    def collect(self) -> Metric:
        family = Metric(self.name, self.documentation, self.kind)
        for values, cell in self._cells.items():
            self._add_samples(family, dict(zip(self.label_names, values, strict=True)), cell)
        return family

    def _add_samples(self, family: Metric, labels: dict[str, str], cell: C) -> None:
        raise NotImplementedError


class CounterFamily(_Family[CounterCell]):
    kind = "counter"

    def _new_cell(self) -> CounterCell:
        return CounterCell()

    def _add_samples(self, family: Metric, labels: dict[str, str], cell: CounterCell) -> None:
        family.add_sample(self.name, labels, cell.value)


class GaugeFamily(_Family[GaugeCell]):
    kind = "gauge"

    def _new_cell(self) -> GaugeCell:
        return GaugeCell()

    def _add_samples(self, family: Metric, labels: dict[str, str], cell: GaugeCell) -> None:
        family.add_sample(self.name, labels, cell.value)


class HistogramFamily(_Family[HistogramCell]):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str],
        bounds: Sequence[float],
    ) -> None:
        self.bounds = tuple(bounds)
        self._le = [*(floatToGoString(b) for b in self.bounds), "+Inf"]
        super().__init__(name, documentation, label_names)

    def _new_cell(self) -> HistogramCell:
        return HistogramCell(self.bounds)

    def _add_samples(self, family: Metric, labels: dict[str, str], cell: HistogramCell) -> None:
        counts, total = cell.snapshot()
        cumulative = 0
        for le, count in zip(self._le, counts, strict=True):
            cumulative += count
            family.add_sample(f"{self.name}_bucket", {**labels, "le": le}, cumulative)
        family.add_sample(f"{self.name}_sum", labels, total)
        family.add_sample(f"{self.name}_count", labels, cumulative)


F = TypeVar("F", CounterFamily, GaugeFamily, HistogramFamily)


class MetricSet:
    """A prometheus-client ``Collector`` over families; register it in a registry."""

    def __init__(self) -> None:
        self._families: list[_Family] = []  # type: ignore[type-arg]

    def add(self, family: F) -> F:
        """Collect ``family`` too; returns it. Call before the set is registered."""
        self._families.append(family)
        return family

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.collect()
