"""V2 datatypes and their TensorFlow and numpy equivalents (OIP spec §2, §9.1).

``BYTES`` tensors are numpy ``object`` arrays of ``bytes``, as TensorFlow's
``DT_STRING`` tensors are everywhere else in tensorserve. Types with no V2 name
(complex, quantized, resource, variant) have no entry: a signature that uses
one stays servable over TensorFlow Serving's APIs only.

Pure and thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import ml_dtypes
import numpy as np

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.dtypes import DataType

BYTES = "BYTES"


@dataclasses.dataclass(frozen=True, slots=True)
class Datatype:
    """One V2 datatype: its protocol name, TensorFlow type and numpy dtype.

    ``itemsize`` is the fixed width of one element in the binary layout, 0 for
    ``BYTES`` (each element is a little-endian uint32 length, then the bytes).
    ``json`` tells whether elements have a JSON form (FP16 and BF16 do not, as
    in Triton: they travel as binary data only).
    """

    name: str
    dtype: DataType
    numpy: np.dtype
    itemsize: int
    json: bool = True


_ALL = (
    Datatype("BOOL", DataType.DT_BOOL, np.dtype(np.bool_), 1),
    Datatype("UINT8", DataType.DT_UINT8, np.dtype(np.uint8), 1),
    Datatype("UINT16", DataType.DT_UINT16, np.dtype(np.uint16), 2),
    Datatype("UINT32", DataType.DT_UINT32, np.dtype(np.uint32), 4),
    Datatype("UINT64", DataType.DT_UINT64, np.dtype(np.uint64), 8),
    Datatype("INT8", DataType.DT_INT8, np.dtype(np.int8), 1),
    Datatype("INT16", DataType.DT_INT16, np.dtype(np.int16), 2),
    Datatype("INT32", DataType.DT_INT32, np.dtype(np.int32), 4),
    Datatype("INT64", DataType.DT_INT64, np.dtype(np.int64), 8),
    Datatype("FP16", DataType.DT_HALF, np.dtype(np.float16), 2, json=False),
    Datatype("BF16", DataType.DT_BFLOAT16, np.dtype(ml_dtypes.bfloat16), 2, json=False),
    Datatype("FP32", DataType.DT_FLOAT, np.dtype(np.float32), 4),
    Datatype("FP64", DataType.DT_DOUBLE, np.dtype(np.float64), 8),
    Datatype(BYTES, DataType.DT_STRING, np.dtype(object), 0),
)

BY_NAME: Mapping[str, Datatype] = {d.name: d for d in _ALL}
BY_DTYPE: Mapping[DataType, Datatype] = {d.dtype: d for d in _ALL}
_BY_NUMPY: Mapping[np.dtype, Datatype] = {d.numpy: d for d in _ALL if d.name != BYTES}


def parse_datatype(name: str, tensor: str) -> Datatype:
    """The datatype a request names for ``tensor``; InvalidArgument when V2 has none."""
    datatype = BY_NAME.get(name)
    if datatype is None:
        raise InvalidArgument(f"invalid datatype '{name}' for tensor '{tensor}'")
    return datatype


def for_dtype(dtype: DataType, tensor: str) -> Datatype:
    """The V2 datatype of a TensorFlow type; InvalidArgument (400) when V2 cannot express it."""
    datatype = BY_DTYPE.get(dtype)
    if datatype is None:
        raise InvalidArgument(
            f"tensor '{tensor}' uses {dtype.name}, which has no Open Inference Protocol datatype"
        )
    return datatype


def for_array(array: np.ndarray, tensor: str) -> Datatype:
    """The V2 datatype of a model's output array (``bytes``/``str``/``object`` -> BYTES)."""
    if array.dtype.kind in ("S", "U", "O"):
        return BY_NAME[BYTES]
    datatype = _BY_NUMPY.get(array.dtype)
    if datatype is not None:
        return datatype
    raise InvalidArgument(
        f"output '{tensor}' has numpy dtype {array.dtype}, which has no Open Inference "
        "Protocol datatype"
    )
