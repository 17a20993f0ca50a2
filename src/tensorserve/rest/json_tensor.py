"""One JSON value to one tensor, as TensorFlow Serving's ``util/json_tensor.cc`` decodes it.

Shape comes from the first element at each nesting level; every list must
match it, and every leaf must suit the dtype (see ``_LEAF_RULES``). The common
case (a regular nested list of numbers) takes a vectorised numpy path: numpy
infers the array, and the inferred kind and value range are checked. Anything
the fast path does not accept is decoded again by an exact walker that yields
TensorFlow Serving's first error, in its order, with its text.

The fast path cannot tell ``true`` from ``1`` once numpy has mixed them, so
callers say whether the document may hold booleans (``may_hold_bools``); a
plain byte search of the body answers that.

Pure and thread-safe; cost is linear in the number of values.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import numpy as np

from tensorserve.core.errors import InvalidArgument, ServingError, Unimplemented
from tensorserve.rest.json_document import json_snippet, json_type_name
from tensorserve.servables.dtypes import DataType

_INT32 = (-(2**31), 2**31 - 1)
_INT_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.DT_INT32: _INT32,
    DataType.DT_INT16: _INT32,
    DataType.DT_INT8: _INT32,
    DataType.DT_UINT8: _INT32,
    DataType.DT_INT64: (-(2**63), 2**63 - 1),
    DataType.DT_UINT32: (0, 2**32 - 1),
    DataType.DT_UINT64: (0, 2**64 - 1),
}
_FLOATS = frozenset({DataType.DT_FLOAT, DataType.DT_DOUBLE})
_SUPPORTED = frozenset({*_INT_RANGES, *_FLOATS, DataType.DT_BOOL, DataType.DT_STRING})
_MAX_RANK = 64  # numpy's limit (TensorFlow allows 254)


def json_to_tensor(value: Any, dtype: DataType, *, may_hold_bools: bool = True) -> np.ndarray:
    """Decode one parsed JSON value as a tensor of ``dtype``.

    Raises ``InvalidArgument`` (or ``Unimplemented`` for dtypes JSON cannot
    carry) with TensorFlow Serving's message, unwrapped.
    """
    fast = fast_numeric_tensor(value, dtype, may_hold_bools=may_hold_bools)
    if fast is not None:
        return fast
    shape, leaves = decode_leaves(value, dtype)
    return leaves_to_array(leaves, shape, dtype, value)


def fast_numeric_tensor(value: Any, dtype: DataType, *, may_hold_bools: bool) -> np.ndarray | None:
    """The tensor if numpy's own inference proves ``value`` valid for ``dtype``, else None.

    Never raises; None means "decode exactly to find the error (or the value)".
    """
    if dtype not in _SUPPORTED or dtype is DataType.DT_STRING:
        return None
    try:
        inferred = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return tensor_from_inferred(inferred, dtype, may_hold_bools=may_hold_bools)


def tensor_from_inferred(
    inferred: np.ndarray, dtype: DataType, *, may_hold_bools: bool
) -> np.ndarray | None:
    """The tensor of ``dtype`` from numpy's inference over the parsed JSON leaves, or None.

    ``inferred`` is ``np.asarray`` of the parsed value (nested, or flat and reshaped:
    numpy infers the same dtype either way). None means "decode exactly".
    """
    if dtype not in _SUPPORTED or dtype is DataType.DT_STRING:
        return None
    kind = inferred.dtype.kind
    target = dtype.numpy
    if inferred.size == 0:
        return np.zeros(inferred.shape, target) if kind in "biuf" else None
    if dtype is DataType.DT_BOOL:
        return inferred if kind == "b" else None
    if may_hold_bools or kind not in "iuf":
        return None
    if dtype in _FLOATS:
        with np.errstate(over="ignore"):
            return inferred.astype(target, copy=False)
    if kind == "f":
        return None
    if kind == "i" and dtype is DataType.DT_INT64:
        return inferred
    low, high = _INT_RANGES[dtype]
    if kind == "u" and high < 2**63:
        if int(inferred.max()) > high:
            return None
    elif kind == "i" and (int(inferred.min()) < low or int(inferred.max()) > high):
        return None
    return inferred.astype(target, copy=False)


def decode_leaves(value: Any, dtype: DataType) -> tuple[tuple[int, ...], list[Any]]:
    """The inferred shape and the converted leaf values, checked as ``FillTensorProto`` does.

    Raises at the first bad list size, list level, leaf level or leaf value.
    """
    shape = infer_shape(value)
    rank = len(shape)
    convert = _leaf_converter(dtype)
    leaves: list[Any] = []
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list):
            if level >= rank:
                raise InvalidArgument(
                    f"Encountered list at unexpected level: {level} expected < {rank}"
                )
            if len(item) != shape[level]:
                raise InvalidArgument(
                    f"Encountered list at unexpected size: {len(item)} at level: {level} "
                    f"expected size: {shape[level]}"
                )
            stack.extend((child, level + 1) for child in reversed(item))
            continue
        if level != rank:
            raise InvalidArgument(
                f"JSON Value: {json_snippet(item)} found at incorrect level: {level + 1} "
                f"in the JSON DOM. Expected at level: {rank}"
            )
        leaves.append(convert(item))
    return shape, leaves


def infer_shape(value: Any) -> tuple[int, ...]:
    """``GetDenseTensorShape``: list lengths along the first element at each level."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def leaves_to_array(
    leaves: list[Any], shape: tuple[int, ...], dtype: DataType, value: Any
) -> np.ndarray:
    """Pack converted leaves (from :func:`decode_leaves`) into an array of ``shape``."""
    if len(shape) > _MAX_RANK:
        raise InvalidArgument(f"Tensor rank {len(shape)} exceeds the supported maximum {_MAX_RANK}")
    if dtype is DataType.DT_STRING:
        packed = np.empty(len(leaves), dtype=object)
        packed[:] = leaves
        return packed.reshape(shape)
    try:
        target = dtype.numpy
    except KeyError:
        raise Unimplemented(
            f"Conversion of JSON Value: {json_snippet(value)} to type: {dtype.tf_name}"
        ) from None
    if dtype is DataType.DT_UINT64:
        return np.array(leaves, dtype=np.uint64).reshape(shape)
    if dtype in _INT_RANGES:
        # int8/int16/uint8 keep only the low bits, as TensorFlow's int_val cast does.
        return np.array(leaves, dtype=np.int64).astype(target).reshape(shape)
    with np.errstate(over="ignore"):
        return np.array(leaves, dtype=target).reshape(shape)


def _leaf_converter(dtype: DataType) -> Callable[[Any], Any]:
    if dtype is DataType.DT_STRING:
        return _string_leaf

    def convert(leaf: Any) -> Any:
        if isinstance(leaf, dict):
            raise type_error(leaf, dtype)
        if dtype not in _SUPPORTED:
            raise Unimplemented(
                f"Conversion of JSON Value: {json_snippet(leaf)} to type: {dtype.tf_name}"
            )
        if dtype is DataType.DT_BOOL:
            if isinstance(leaf, bool):
                return leaf
            raise type_error(leaf, dtype)
        if isinstance(leaf, bool) or not isinstance(leaf, int | float):
            raise type_error(leaf, dtype)
        if dtype in _FLOATS:
            return _to_float(leaf)
        low, high = _INT_RANGES[dtype]
        if isinstance(leaf, float) or not low <= leaf <= high:
            raise type_error(leaf, dtype)
        return leaf

    return convert


def _to_float(number: int | float) -> float:
    try:
        return float(number)
    except OverflowError:
        return float("inf") if number > 0 else float("-inf")


def _string_leaf(leaf: Any) -> bytes:
    if isinstance(leaf, str):
        return encode_utf8(leaf)
    if isinstance(leaf, dict):
        return decode_base64_object(leaf)
    raise type_error(leaf, DataType.DT_STRING)


def is_base64_object(value: Any) -> bool:
    """``{"b64": "<string>"}`` with no other key."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def decode_base64_object(value: Any) -> bytes:
    """The bytes of a ``{"b64": ...}`` object (standard alphabet; padding optional)."""
    if not is_base64_object(value):
        raise InvalidArgument(
            f"JSON Value: {json_snippet(value)} not formatted correctly for base64 data"
        )
    text: str = value["b64"]
    try:
        data = text.encode("ascii")
        return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise InvalidArgument("Unable to base64 decode") from None


def encode_utf8(text: str) -> bytes:
    """UTF-8 bytes of a decoded JSON string, keeping invalid bytes and lone surrogates."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", errors="surrogatepass")


def type_error(value: Any, dtype: DataType) -> InvalidArgument:
    """``JSON Value: <v> Type: <T> is not of expected type: <dtype>``."""
    return InvalidArgument(
        f"JSON Value: {json_snippet(value)} Type: {json_type_name(value)} "
        f"is not of expected type: {dtype.tf_name}"
    )


def wrap_row_error(error: ServingError, prefix: str) -> InvalidArgument:
    """A per-element error as the row format wraps it: ``<prefix> Error: CODE: message``."""
    return InvalidArgument(f"{prefix} Error: {error.with_prefix()}")
