"""Predict request JSON (``instances`` rows or ``inputs`` columns) to named input arrays.

Follows ``FillPredictRequestFromJson``: after the document and the signature
are known, exactly one of ``instances`` and ``inputs`` must be present. Rows
are stacked into one batch; per-row errors are wrapped with the row index.
Regular numeric payloads take a vectorised path (one numpy conversion per
input); only when it declines does the exact row-by-row walk run, so errors
keep TensorFlow Serving's order and text.

Pure and thread-safe.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import numpy as np

from tensorserve.core.errors import InvalidArgument, ServingError
from tensorserve.rest.json_document import json_snippet
from tensorserve.rest.json_tensor import (
    decode_leaves,
    fast_numeric_tensor,
    is_base64_object,
    json_to_tensor,
    leaves_to_array,
    wrap_row_error,
)
from tensorserve.servables.dtypes import DataType


class RequestFormat(enum.Enum):
    """Which request key carried the tensors; the response mirrors it."""

    ROW = "instances"
    COLUMNAR = "inputs"


def decode_predict_inputs(
    document: Mapping[str, Any],
    signature_name: str,
    input_dtypes: Mapping[str, DataType],
    *,
    may_hold_bools: bool = True,
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    """Named input arrays from a parsed predict request, and the format it used.

    ``input_dtypes`` are the signature's inputs; ``signature_name`` is as the
    request gave it (only quoted in errors). Raises ``ServingError`` with
    TensorFlow Serving's message.
    """
    if not input_dtypes:
        raise InvalidArgument(
            f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
        )
    if "instances" in document:
        if "inputs" in document:
            raise InvalidArgument(
                f"JSON Value: {json_snippet(document)} Not formatted correctly expecting only "
                "one of 'inputs' or 'instances' keys to exist "
            )
        instances = document["instances"]
        if not isinstance(instances, list):
            raise InvalidArgument(
                f"JSON Value: {json_snippet(document)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise InvalidArgument(
                f"JSON Value: {json_snippet(document)} No values in 'instances' array"
            )
        return _decode_rows(instances, input_dtypes, may_hold_bools), RequestFormat.ROW
    if "inputs" in document:
        columns = _decode_columns(document["inputs"], input_dtypes, may_hold_bools)
        return columns, RequestFormat.COLUMNAR
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def _is_element_object(value: Any) -> bool:
    return isinstance(value, dict) and not is_base64_object(value)


def _decode_columns(
    value: Any, input_dtypes: Mapping[str, DataType], may_hold_bools: bool
) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or is_base64_object(value):
        if len(input_dtypes) > 1:
            raise InvalidArgument(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        ((name, dtype),) = input_dtypes.items()
        return {name: json_to_tensor(value, dtype, may_hold_bools=may_hold_bools)}
    tensors: dict[str, np.ndarray] = {}
    for name in sorted(input_dtypes):
        if name not in value:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = json_to_tensor(
            value[name], input_dtypes[name], may_hold_bools=may_hold_bools
        )
    return tensors


def _decode_rows(
    instances: list[Any], input_dtypes: Mapping[str, DataType], may_hold_bools: bool
) -> dict[str, np.ndarray]:
    fast = _decode_rows_fast(instances, input_dtypes, may_hold_bools)
    if fast is not None:
        return fast
    return _RowDecoder(input_dtypes).decode(instances)


def _decode_rows_fast(
    instances: list[Any], input_dtypes: Mapping[str, DataType], may_hold_bools: bool
) -> dict[str, np.ndarray] | None:
    """All inputs at once when every row is regular and numeric; None when unsure."""
    if not _is_element_object(instances[0]):
        if len(input_dtypes) > 1:
            return None
        ((name, dtype),) = input_dtypes.items()
        tensor = fast_numeric_tensor(instances, dtype, may_hold_bools=may_hold_bools)
        return None if tensor is None else {name: tensor}
    names = input_dtypes.keys()
    for row in instances:
        if not isinstance(row, dict) or row.keys() != names or is_base64_object(row):
            return None
    tensors: dict[str, np.ndarray] = {}
    for name, dtype in input_dtypes.items():
        column = [row[name] for row in instances]
        tensor = fast_numeric_tensor(column, dtype, may_hold_bools=may_hold_bools)
        if tensor is None:
            return None
        tensors[name] = tensor
    return tensors


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


class _RowDecoder:
    """The exact ``FillTensorMapFromInstancesList`` walk; one use per request."""

    def __init__(self, input_dtypes: Mapping[str, DataType]) -> None:
        self._dtypes = input_dtypes
        self._names = sorted(input_dtypes)
        self._leaves: dict[str, list[Any]] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}

    def decode(self, instances: list[Any]) -> dict[str, np.ndarray]:
        first = instances[0]
        if not isinstance(first, dict) and len(self._names) > 1:
            raise InvalidArgument(
                "instances is a plain list, but expecting list of objects as multiple input "
                "tensors required as per tensorinfo_map"
            )
        objects = _is_element_object(first)
        for index, element in enumerate(instances):
            if objects:
                self._add_object(index, element)
            else:
                self._add_value(index, element)
        return {
            name: leaves_to_array(
                leaves, (len(instances), *self._shapes[name]), self._dtypes[name], instances
            )
            for name, leaves in self._leaves.items()
        }

    def _add_object(self, index: int, element: Any) -> None:
        if not _is_element_object(element):
            raise InvalidArgument(f"Expecting object but got list at item {index} of input list")
        for key, item in element.items():
            try:
                self._add_item(key, item)
            except ServingError as error:
                prefix = f"Failed to process element: {index} key: {key} of 'instances' list."
                raise wrap_row_error(error, prefix) from None
        if element.keys() != self._dtypes.keys():
            raise InvalidArgument(
                f"Failed to process element: {index} of 'instances' list. "
                f"JSON object: {json_snippet(element)} keys must be equal to: "
                + ",".join(self._names)
            )

    def _add_value(self, index: int, element: Any) -> None:
        if _is_element_object(element):
            raise InvalidArgument(
                f"Expecting value/list but got object at item {index} of input list"
            )
        try:
            self._add_item(self._names[0], element)
        except ServingError as error:
            prefix = f"Failed to process element: {index} of 'instances' list."
            raise wrap_row_error(error, prefix) from None

    def _add_item(self, name: str, item: Any) -> None:
        dtype = self._dtypes.get(name)
        if dtype is None:
            raise InvalidArgument(f"JSON object: does not have named input: {name}")
        shape, leaves = decode_leaves(item, dtype)
        seen = self._leaves.get(name)
        if seen is None:
            self._leaves[name] = leaves
            self._shapes[name] = shape
            return
        expected_shape = self._shapes[name]
        expected_size = int(np.prod(expected_shape, dtype=np.int64))
        if len(leaves) != expected_size:
            raise InvalidArgument(f"Expecting tensor size: {expected_size} but got: {len(leaves)}")
        if shape != expected_shape:
            raise InvalidArgument(
                f"Expecting shape {_shape_text(expected_shape)} but got: {_shape_text(shape)}"
            )
        seen.extend(leaves)
