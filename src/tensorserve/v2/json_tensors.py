"""V2 JSON tensor data to numpy arrays and back (OIP spec §2, §3.5).

An input's ``data`` is a flat (row-major) or nested list; only the total
element count must equal the product of ``shape``, as in Triton. Values must
suit the datatype exactly: ``true``/``false`` for BOOL (never numbers),
integers in the type's range for the integer types (checked, unlike Triton),
numbers for FP32/FP64 (the ``NaN``/``Infinity`` tokens included), strings for
BYTES (sent as their UTF-8 bytes). FP16 and BF16 have no JSON form.

A large number array may arrive already parsed, as a numpy array
(``json_number_data``); it is only converted. The common case, a regular list
of numbers, takes a vectorised path: numpy infers the array and its kind and
range are checked. numpy cannot tell
``true`` from ``1`` once it has mixed them, so callers say whether the body
may hold booleans at all (a byte search answers that); anything else is
walked value by value, which also finds the first bad value for the message.

Outputs are written flat: numbers through orjson's numpy support (shortest
text that round-trips at the array's precision; NaN and infinities as the bare
tokens, which tritonclient's rapidjson reads), BYTES as strings when they are
UTF-8.

Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.tensor_json import tensor_json
from tensorserve.v2.datatypes import BYTES, Datatype
from tensorserve.v2.raw_tensors import element_count

MAX_NESTING = 64
"""Lists nested deeper than this in ``data`` are refused (numpy's rank limit)."""


def decode_json_data(
    data: Any, datatype: Datatype, shape: Sequence[int], tensor: str, *, may_hold_bools: bool
) -> np.ndarray:
    """The array of ``shape`` that ``data`` holds for an input of ``datatype``."""
    if not datatype.json:
        raise InvalidArgument(
            f"receiving {datatype.name} data via JSON is not supported for input '{tensor}'; "
            "send it in the binary data format"
        )
    count = element_count(shape, tensor)
    array = None
    if isinstance(data, np.ndarray):
        # Parsed from the body natively (json_number_data), which passes on only numbers
        # that decode for this datatype, as _fast_numeric would convert them.
        with np.errstate(over="ignore"):
            array = data.reshape(-1).astype(datatype.numpy, copy=False)
    elif datatype.name != BYTES:
        array = _fast_numeric(data, datatype, may_hold_bools=may_hold_bools)
    if array is None:
        array = _walked(data, datatype, tensor)
    if array.size != count:
        raise InvalidArgument(
            f"unexpected number of elements {array.size} in 'data' of input '{tensor}': "
            f"shape {list(shape)} holds {count}"
        )
    return array.reshape(tuple(shape))


def json_data(array: np.ndarray, datatype: Datatype, tensor: str, *, exact: bool = True) -> Any:
    """The flat JSON value of an output array (orjson with ``OPT_SERIALIZE_NUMPY``).

    With ``exact`` False, float arrays are handed to orjson as they are, which writes
    NaN and infinities as ``null``: cheaper, for callers that look for ``null`` in the
    text and render again exactly when they find one.
    """
    if not datatype.json:
        raise InvalidArgument(
            f"sending {datatype.name} data via JSON is not supported for output '{tensor}'; "
            "request it with binary_data"
        )
    flat = np.asarray(array).reshape(-1)
    if datatype.name == BYTES:
        return [_text(value, tensor) for value in flat.tolist()]
    if flat.dtype.kind == "f" and exact:
        return tensor_json(flat, tensor)  # writes NaN/Infinity tokens when present
    return np.ascontiguousarray(flat, dtype=datatype.numpy)


def _fast_numeric(data: Any, datatype: Datatype, *, may_hold_bools: bool) -> np.ndarray | None:
    """The array if numpy's inference proves ``data`` valid, else None (never raises)."""
    if not isinstance(data, list):
        return None
    try:
        inferred = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = inferred.dtype.kind
    target = datatype.numpy
    if inferred.size == 0:
        return np.zeros(0, target) if kind in "biuf" else None
    if target.kind == "b":
        return inferred.reshape(-1) if kind == "b" else None
    if may_hold_bools or kind not in "iuf":
        return None
    if target.kind == "f":
        with np.errstate(over="ignore"):
            return inferred.reshape(-1).astype(target, copy=False)
    if kind == "f":
        return None
    info = np.iinfo(target)
    if int(inferred.min()) < info.min or int(inferred.max()) > info.max:
        return None
    return inferred.reshape(-1).astype(target, copy=False)


def _walked(data: Any, datatype: Datatype, tensor: str) -> np.ndarray:
    """Every leaf of ``data``, checked in order; raises at the first bad one."""
    leaves: list[Any] = []
    stack: list[tuple[Any, int]] = [(data, 0)]
    check = _leaf_check(datatype, tensor)
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            if depth >= MAX_NESTING:
                raise InvalidArgument(
                    f"'data' of input '{tensor}' is nested deeper than {MAX_NESTING} levels"
                )
            stack.extend((child, depth + 1) for child in reversed(item))
        else:
            leaves.append(check(item))
    if datatype.name == BYTES:
        packed = np.empty(len(leaves), dtype=object)
        packed[:] = leaves
        return packed
    with np.errstate(over="ignore"):
        return np.array(leaves, dtype=datatype.numpy)


def _leaf_check(datatype: Datatype, tensor: str) -> Any:
    kind = datatype.numpy.kind
    if datatype.name == BYTES:

        def check_bytes(value: Any) -> bytes:
            if not isinstance(value, str):
                raise _type_error(value, datatype, tensor)
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
                raise InvalidArgument(
                    f"input '{tensor}' holds a string that is not valid Unicode"
                ) from None

        return check_bytes
    if kind == "b":

        def check_bool(value: Any) -> bool:
            if not isinstance(value, bool):
                raise _type_error(value, datatype, tensor)
            return value

        return check_bool
    if kind == "f":

        def check_float(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _type_error(value, datatype, tensor)
            try:
                return float(value)
            except OverflowError:  # an integer past the float range
                return float("inf") if value > 0 else float("-inf")

        return check_float
    info = np.iinfo(datatype.numpy)

    def check_int(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(value, datatype, tensor)
        if not info.min <= value <= info.max:
            raise InvalidArgument(
                f"value {value} of input '{tensor}' is out of range for {datatype.name} "
                f"[{info.min}, {info.max}]"
            )
        return value

    return check_int


def _type_error(value: Any, datatype: Datatype, tensor: str) -> InvalidArgument:
    shown = repr(value) if not isinstance(value, list | dict) else type(value).__name__
    if len(shown) > 64:
        shown = shown[:61] + "..."
    return InvalidArgument(
        f"unable to parse 'data' of input '{tensor}': {shown} is not a valid {datatype.name} value"
    )


def _text(value: Any, tensor: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(
            f"output '{tensor}' holds bytes that are not UTF-8, which JSON cannot carry; "
            "request it with binary_data"
        ) from None
