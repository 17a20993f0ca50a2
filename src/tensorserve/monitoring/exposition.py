"""The Prometheus text page, printed the way TensorFlow Serving prints it.

TensorFlow Serving's exporter (``util/prometheus_exporter.cc``) writes one
``# TYPE`` line per metric (no ``# HELP``), even when it has no samples;
scalars as ``name{l="v"} <int>`` (``name{}`` without labels); histograms as
cumulative ``_bucket`` lines ending in ``le="+Inf"``, then ``_sum`` and
``_count``; bucket bounds with six significant digits (``32.4``). This module
renders any ``CollectorRegistry`` that way, metrics sorted by name. It drops
prometheus-client's ``_created`` samples and never adds ``_total``: counters
print under their family name, so a collector that wants TensorFlow's names
yields families named exactly so (see ``metric_families.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

CONTENT_TYPE = "text/plain"

_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram"}
_LABEL_NAME_INVALID = re.compile(r"[^a-zA-Z0-9]")
_METRIC_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(tf_name: str) -> str:
    """A TensorFlow monitoring name as Prometheus sees it (``/a/b`` -> ``:a:b``)."""
    name = _METRIC_NAME_INVALID.sub(":", tf_name)
    return f"_{name}" if name[:1].isdigit() else name


def label_name(name: str) -> str:
    name = _LABEL_NAME_INVALID.sub("_", name)
    return f"_{name}" if name[:1].isdigit() else name


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str], skip: str = "") -> list[str]:
    return [f'{label_name(k)}="{_label_value(v)}"' for k, v in labels.items() if k != skip]


def _number(value: float) -> str:
    """Integers as integers (TensorFlow prints int64 cells); other values exactly."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value):
        return str(int(value))
    return repr(value)


def _bucket_bound(le: str) -> str:
    """``le`` as absl::StrCat prints a double: six significant digits."""
    if le in ("+Inf", "inf", "Inf"):
        return "+Inf"
    return f"{float(le):.6g}"


def _histogram_lines(name: str, samples: Iterable[Sample]) -> list[str]:
    """Group samples by label set; print buckets, then _sum, then _count."""
    series: dict[tuple[tuple[str, str], ...], dict[str, list[Sample]]] = {}
    for sample in samples:
        suffix = sample.name[len(name) :]
        key = tuple((k, v) for k, v in sample.labels.items() if k != "le")
        series.setdefault(key, {}).setdefault(suffix, []).append(sample)
    lines: list[str] = []
    for key, parts in series.items():
        labels = _labels(dict(key))
        prefix = ",".join([*labels, ""]) if labels else ""
        for bucket in parts.get("_bucket", []):
            bound = _bucket_bound(bucket.labels["le"])
            lines.append(f'{name}_bucket{{{prefix}le="{bound}"}} {_number(bucket.value)}')
        joined = ",".join(labels)
        for suffix in ("_sum", "_count"):
            for sample in parts.get(suffix, []):
                lines.append(f"{name}{suffix}{{{joined}}} {_number(sample.value)}")
    return lines


def render_exposition(registry: CollectorRegistry | Collector) -> str:
    """The whole page: every metric of ``registry`` in TensorFlow Serving's format.

    Thread-safe as far as the collectors are (prometheus-client's are).
    """
    lines: list[str] = []
    for family in sorted(registry.collect(), key=lambda f: f.name):
        kind = _TYPES.get(family.type, "untyped")
        lines.append(f"# TYPE {family.name} {kind}")
        if kind == "histogram":
            lines.extend(_histogram_lines(family.name, family.samples))
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = ",".join(_labels(sample.labels))
            lines.append(f"{sample.name}{{{labels}}} {_number(sample.value)}")
    return "\n".join(lines) + "\n"
