"""Tensors to JSON values as TensorFlow Serving writes them (``AddTensorValues``).

Integers and booleans go to orjson as numpy arrays (``OPT_SERIALIZE_NUMPY``).
Floats are written by :mod:`tensorserve.rest.float_text` exactly as TensorFlow
Serving prints them (``%g``, else ``%.9g`` / ``%.17g``; bare ``NaN`` and
``Infinity`` tokens) and embedded as ``orjson.Fragment``. DT_STRING values
are written as text (invalid UTF-8 replaced), or as
``{"b64": ...}`` when the output's name ends in ``_bytes``.

Pure and thread-safe.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.float_text import float_json, float_json_rows
from tensorserve.servables.dtypes import from_numpy

BYTES_SUFFIX = "_bytes"
"""Outputs whose name ends with this are written as base64 objects."""

# Kinds orjson writes natively; float16 and uint16 are not on TensorFlow Serving's list.
_NATIVE = frozenset(
    np.dtype(t)
    for t in (
        np.float32,
        np.float64,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint32,
        np.uint64,
        np.bool_,
    )
)


def dumps(value: Any) -> bytes:
    """Serialize a structure holding the values this module returns."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def tensor_json(array: np.ndarray, name: str) -> Any:
    """The whole tensor as one JSON-serializable value (a bare value for rank 0)."""
    check_writable(array, name)
    if array.dtype.kind in "OSU":
        return _strings(array, name.endswith(BYTES_SUFFIX))
    if array.dtype.kind == "f":
        return orjson.Fragment(float_json(array))
    if array.ndim == 0:
        return array[()]
    return np.ascontiguousarray(array)


def tensor_rows(array: np.ndarray, name: str) -> list[Any]:
    """One JSON-serializable value per entry of dimension 0 (``array.ndim >= 1``)."""
    check_writable(array, name)
    if array.dtype.kind in "OSU":
        return _strings(array, name.endswith(BYTES_SUFFIX))  # type: ignore[no-any-return]
    if array.dtype.kind == "f":
        return [orjson.Fragment(text) for text in float_json_rows(array)]
    return list(np.ascontiguousarray(array))


def check_writable(array: np.ndarray, name: str) -> None:
    """Raise TensorFlow Serving's error for a dtype JSON output does not support."""
    if array.dtype in _NATIVE or array.dtype.kind in "OSU" or array.size == 0:
        return
    try:
        type_name = from_numpy(array.dtype).tf_name
    except KeyError:
        type_name = str(array.dtype)
    raise InvalidArgument(f"Failed to write JSON value for tensor type: {type_name}")


def _strings(array: np.ndarray, as_base64: bool) -> Any:
    encode: Callable[[Any], Any] = _base64_object if as_base64 else _text
    return _map_nested(array.tolist(), encode)


def _map_nested(value: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(value, list):
        return [_map_nested(item, fn) for item in value]
    return fn(value)


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _base64_object(value: bytes | str) -> dict[str, str]:
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return {"b64": base64.b64encode(data).decode("ascii")}
