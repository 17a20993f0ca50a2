"""Signatures as the data plane sees them: named, typed inputs and outputs.

A ``Signature`` mirrors a ``SignatureDef`` without tying callers to protobuf;
the platform that made it keeps the original proto for metadata responses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tensorserve.servables.dtypes import DataType

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True, slots=True)
class TensorInfo:
    """One input or output: graph tensor name, dtype, and shape (None = unknown rank;
    -1 = unknown dimension)."""

    name: str
    dtype: DataType
    shape: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Signature:
    """A named computation: ``inputs`` and ``outputs`` keyed by alias."""

    name: str
    method_name: str
    inputs: Mapping[str, TensorInfo]
    outputs: Mapping[str, TensorInfo]
    has_defaults: bool = False
