"""Tensor alias sets as TensorFlow Serving names them in its errors, for every platform.

Each runtime (TensorFlow, ONNX Runtime, TFLite, Python) must refuse a bad output
filter with the same words, so the texts live here once, free of TensorFlow imports.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from tensorserve.core.errors import InvalidArgument


def join_sorted(names: Iterable[str]) -> str:
    """``absl::StrJoin`` of a ``std::set<string>``: sorted, comma-separated."""
    return ",".join(sorted(names))


def resolve_output_aliases(
    outputs: Collection[str], output_filter: tuple[str, ...]
) -> tuple[str, ...]:
    """The outputs to compute: all of ``outputs`` (sorted) for an empty filter, else the
    filter, refused with TensorFlow Serving's texts for an unknown or repeated alias."""
    if not output_filter:
        return tuple(sorted(outputs))
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias} Outputs expected "
                f"to be in the set {{{join_sorted(outputs)}}}."
            )
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return output_filter
