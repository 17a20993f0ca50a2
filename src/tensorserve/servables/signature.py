"""Signatures as every protocol sees them: named, typed inputs and outputs.

A ``Signature`` describes what a model computes without tying callers to any
protocol's types: TensorFlow Serving's metadata (``tfserving/metadata.py``)
and V2's model metadata are both built from it, so a model that is not a
SavedModel can be described too.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

import numpy as np

from tensorserve.servables.dtypes import DataType

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"

_NO_DEFAULTS: Mapping[str, np.ndarray] = types.MappingProxyType({})


def _no_defaults() -> Mapping[str, np.ndarray]:
    return _NO_DEFAULTS


@dataclasses.dataclass(frozen=True, slots=True)
class TensorInfo:
    """One input or output: tensor name, dtype, and shape.

    ``shape`` None means the rank is unknown; -1 is an unknown dimension.
    ``declares_shape`` is False when the model recorded no shape at all
    (``shape`` is then None too); metadata reproduces that as the model had it.
    """

    name: str
    dtype: DataType
    shape: tuple[int, ...] | None = None
    declares_shape: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Signature:
    """A named computation: ``inputs`` and ``outputs`` keyed by alias, in order.

    ``method_name`` says how it is called (``PREDICT_METHOD``, ...); ``defaults``
    holds the values of inputs a request may leave out.
    """

    name: str
    method_name: str
    inputs: Mapping[str, TensorInfo]
    outputs: Mapping[str, TensorInfo]
    defaults: Mapping[str, np.ndarray] = dataclasses.field(default_factory=_no_defaults)

    @property
    def has_defaults(self) -> bool:
        return bool(self.defaults)
