"""TensorFlow ``DataType`` enum values, their names, and their numpy equivalents.

Kept free of TensorFlow imports so the REST and gRPC codecs stay cheap to import.
Strings are numpy ``object`` arrays of ``bytes``.
"""

from __future__ import annotations

import enum

import numpy as np


class DataType(enum.IntEnum):
    """``tensorflow.DataType`` (``types.proto``)."""

    DT_INVALID = 0
    DT_FLOAT = 1
    DT_DOUBLE = 2
    DT_INT32 = 3
    DT_UINT8 = 4
    DT_INT16 = 5
    DT_INT8 = 6
    DT_STRING = 7
    DT_COMPLEX64 = 8
    DT_INT64 = 9
    DT_BOOL = 10
    DT_QINT8 = 11
    DT_QUINT8 = 12
    DT_QINT32 = 13
    DT_BFLOAT16 = 14
    DT_QINT16 = 15
    DT_QUINT16 = 16
    DT_UINT16 = 17
    DT_COMPLEX128 = 18
    DT_HALF = 19
    DT_RESOURCE = 20
    DT_VARIANT = 21
    DT_UINT32 = 22
    DT_UINT64 = 23
    # Reference types (a TF1 variable's output): the value type plus 100.
    DT_FLOAT_REF = 101
    DT_DOUBLE_REF = 102
    DT_INT32_REF = 103
    DT_UINT8_REF = 104
    DT_INT16_REF = 105
    DT_INT8_REF = 106
    DT_STRING_REF = 107
    DT_COMPLEX64_REF = 108
    DT_INT64_REF = 109
    DT_BOOL_REF = 110
    DT_QINT8_REF = 111
    DT_QUINT8_REF = 112
    DT_QINT32_REF = 113
    DT_BFLOAT16_REF = 114
    DT_QINT16_REF = 115
    DT_QUINT16_REF = 116
    DT_UINT16_REF = 117
    DT_COMPLEX128_REF = 118
    DT_HALF_REF = 119
    DT_RESOURCE_REF = 120
    DT_VARIANT_REF = 121
    DT_UINT32_REF = 122
    DT_UINT64_REF = 123

    @property
    def tf_name(self) -> str:
        """TensorFlow's short name (``DataTypeString``): ``float``, ``int64``, ``string``."""
        return _TF_NAMES.get(self, self.name[3:].lower())

    @property
    def base(self) -> DataType:
        """The value type of a reference type (``DT_FLOAT_REF`` -> ``DT_FLOAT``); else itself."""
        return DataType(self - 100) if self > 100 else self

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype; raises KeyError for types numpy cannot hold."""
        return _NUMPY[self]


_TF_NAMES = {DataType.DT_HALF: "half", DataType.DT_BFLOAT16: "bfloat16"}

_NUMPY: dict[DataType, np.dtype] = {
    DataType.DT_FLOAT: np.dtype(np.float32),
    DataType.DT_DOUBLE: np.dtype(np.float64),
    DataType.DT_INT32: np.dtype(np.int32),
    DataType.DT_UINT8: np.dtype(np.uint8),
    DataType.DT_INT16: np.dtype(np.int16),
    DataType.DT_INT8: np.dtype(np.int8),
    DataType.DT_STRING: np.dtype(object),
    DataType.DT_COMPLEX64: np.dtype(np.complex64),
    DataType.DT_INT64: np.dtype(np.int64),
    DataType.DT_BOOL: np.dtype(np.bool_),
    DataType.DT_UINT16: np.dtype(np.uint16),
    DataType.DT_COMPLEX128: np.dtype(np.complex128),
    DataType.DT_HALF: np.dtype(np.float16),
    DataType.DT_UINT32: np.dtype(np.uint32),
    DataType.DT_UINT64: np.dtype(np.uint64),
}

_FROM_NUMPY = {v: k for k, v in _NUMPY.items()}


def from_numpy(dtype: np.dtype) -> DataType:
    """The DataType of a numpy dtype (``bytes``/``str``/``object`` map to DT_STRING)."""
    if dtype.kind in ("S", "U", "O"):
        return DataType.DT_STRING
    try:
        return _FROM_NUMPY[np.dtype(dtype)]
    except KeyError:
        raise KeyError(f"no TensorFlow DataType for numpy dtype {dtype}") from None


def byte_view(array: np.ndarray) -> memoryview:
    """The bytes of C-contiguous ``array`` as a flat view, without a copy. Through uint8,
    because some dtypes (bfloat16) cannot be exported as a buffer of their own."""
    return array.reshape(-1).view(np.uint8).data
