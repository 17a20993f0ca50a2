"""Inputs and outputs of a Python servable checked against its declared specs.

Inputs get TensorFlow Serving's predict texts (``predict_util.cc``) where it
has them, as INVALID_ARGUMENT: the client sent them. Outputs that do not fit
the declaration are the servable's fault, so they are INTERNAL, naming the
model and output. Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorserve.core.errors import Internal, InvalidArgument
from tensorserve.servables.alias_names import join_sorted
from tensorserve.servables.dtypes import DataType, from_numpy
from tensorserve.servables.signature import Signature, TensorInfo


def _dtype_of(array: np.ndarray) -> DataType | None:
    try:
        return from_numpy(array.dtype)
    except KeyError:
        return None


def _fits(shape: tuple[int, ...] | None, actual: tuple[int, ...]) -> bool:
    if shape is None:
        return True
    if len(shape) != len(actual):
        return False
    return all(d < 0 or d == a for d, a in zip(shape, actual, strict=True))


def as_bytes_array(array: np.ndarray) -> np.ndarray:
    """``str``/``bytes`` numpy arrays as ``object`` arrays of ``bytes`` (the string form)."""
    if array.dtype == object:
        if all(isinstance(v, bytes) for v in array.flat):
            return array
        out = np.empty(array.shape, dtype=object)
        for index, value in np.ndenumerate(array):
            out[index] = value.encode() if isinstance(value, str) else bytes(value)
        return out
    if array.dtype.kind == "U":
        return np.vectorize(lambda s: s.encode(), otypes=[object])(array).reshape(array.shape)
    if array.dtype.kind == "S":
        return array.astype(object)
    return array


def _as_array(value: object, dtype: DataType) -> np.ndarray:
    """An ndarray as given; a list or scalar (a caller's convenience) in the declared
    dtype when that is the same kind of number."""
    array = np.asarray(value)
    if isinstance(value, np.ndarray) or dtype is DataType.DT_STRING:
        return array
    target = dtype.numpy
    if array.dtype != target and np.can_cast(array.dtype, target, "same_kind"):
        return array.astype(target)
    return array


def _exact(info: TensorInfo, value: object) -> bool:
    """Whether ``value`` is already an array of the declared numeric dtype and shape."""
    return (
        type(value) is np.ndarray
        and info.dtype is not DataType.DT_STRING
        and value.dtype == info.dtype.numpy
        and _fits(info.shape, value.shape)
    )


def check_inputs(signature: Signature, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The request's arrays, in signature order; raises InvalidArgument if they do not fit."""
    if len(inputs) == len(signature.inputs):  # the common case, checked in one pass
        ready = {alias: inputs.get(alias) for alias in signature.inputs}
        if all(_exact(info, ready[alias]) for alias, info in signature.inputs.items()):
            return ready  # type: ignore[return-value]
    requested = set(inputs)
    expected = set(signature.inputs)
    if requested != expected:
        raise InvalidArgument(
            f"input size does not match signature: {len(requested)}!={len(expected)} "
            f"len({{{join_sorted(requested)}}}) != len({{{join_sorted(expected)}}}). "
            f"Sent extra: {{{join_sorted(requested - expected)}}}. "
            f"Missing but required: {{{join_sorted(expected - requested)}}}."
        )
    arrays: dict[str, np.ndarray] = {}
    for slot, (alias, info) in enumerate(signature.inputs.items()):
        array = _as_array(inputs[alias], info.dtype)
        if info.dtype is DataType.DT_STRING and array.dtype.kind in "USO":
            array = as_bytes_array(array)
        actual = _dtype_of(array)
        if actual is not info.dtype:
            shown = actual.tf_name if actual is not None else str(array.dtype)
            raise InvalidArgument(
                f"Expects arg[{slot}] to be {info.dtype.tf_name} but {shown} is provided"
            )
        if not _fits(info.shape, array.shape):
            raise InvalidArgument(
                f"input '{alias}' has shape {list(array.shape)} but signature "
                f"'{signature.name}' expects {list(info.shape or ())}"
            )
        arrays[alias] = array
    return arrays


def check_output_filter(signature: Signature, output_filter: Sequence[str]) -> None:
    """TensorFlow Serving's errors for an unknown or repeated output alias."""
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias} Outputs expected "
                f"to be in the set {{{join_sorted(signature.outputs)}}}."
            )
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)


def check_outputs(
    owner: str, signature: Signature, result: object, output_filter: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """The servable's result as declared arrays (cast where exact); Internal if it cannot be."""
    if (
        type(result) is dict
        and not output_filter
        and len(result) == len(signature.outputs)
        and all(_exact(info, result.get(alias)) for alias, info in signature.outputs.items())
    ):
        return result
    if not isinstance(result, Mapping):
        raise Internal(
            f"{owner} returned {type(result).__name__}, not a dict of outputs "
            f"for signature '{signature.name}'"
        )
    extra = set(result) - set(signature.outputs)
    if extra:
        raise Internal(f"{owner} returned undeclared outputs: {join_sorted(map(str, extra))}")
    wanted = list(output_filter) or list(signature.outputs)
    missing = [alias for alias in wanted if alias not in result]
    if missing:
        raise Internal(f"{owner} did not return the outputs: {join_sorted(missing)}")
    return {
        alias: _output(owner, alias, signature.outputs[alias], result[alias]) for alias in wanted
    }


def _output(owner: str, alias: str, info: TensorInfo, value: object) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise Internal(f"{owner} returned output '{alias}' that is not an array: {exc}") from None
    if info.dtype is DataType.DT_STRING:
        if array.dtype.kind not in "USO":
            raise Internal(f"{owner} returned {array.dtype} for string output '{alias}'")
        array = as_bytes_array(array)
    elif array.dtype != info.dtype.numpy:
        cast = array.astype(info.dtype.numpy)
        if array.dtype.kind in "USO" or not np.array_equal(cast, array, equal_nan=True):
            raise Internal(
                f"{owner} returned {array.dtype} for output '{alias}', which is declared "
                f"{info.dtype.tf_name} and cannot hold it exactly"
            )
        array = cast
    if not _fits(info.shape, array.shape):
        raise Internal(
            f"{owner} returned output '{alias}' of shape {list(array.shape)}; "
            f"declared {list(info.shape or ())}"
        )
    return array
