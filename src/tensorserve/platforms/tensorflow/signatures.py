"""SignatureDef protos as the data plane sees them, and as TensorFlow prints them.

Converts a MetaGraph's ``SignatureDef`` map to :class:`Signature` values once at
load time (signature ``defaults`` decoded to arrays); metadata responses are
built from those, never from the protos. Renders protos the way
TensorFlow's C++ ``DebugString`` does for error texts. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2

from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import DEFAULT_SIGNATURE, Signature, TensorInfo
from tensorserve.tfserving.tensor_proto import tensor_proto_to_ndarray


def resolve_signature_name(signature_name: str) -> str:
    """TensorFlow Serving's rule: an empty name means ``serving_default``."""
    return signature_name or DEFAULT_SIGNATURE


def tensor_info(proto: meta_graph_pb2.TensorInfo) -> TensorInfo:
    """One TensorInfo proto as a :class:`TensorInfo` (unknown rank -> ``shape=None``;
    no recorded shape -> ``declares_shape=False``)."""
    declares_shape = proto.HasField("tensor_shape")
    shape: tuple[int, ...] | None = None
    if declares_shape and not proto.tensor_shape.unknown_rank:
        shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    try:
        dtype = DataType(proto.dtype)
    except ValueError:
        dtype = DataType.DT_INVALID
    return TensorInfo(name=proto.name, dtype=dtype, shape=shape, declares_shape=declares_shape)


def signature(name: str, proto: meta_graph_pb2.SignatureDef) -> Signature:
    """A ``SignatureDef`` as a :class:`Signature`, aliases in the proto's own order (so
    metadata rebuilt from it serializes as the proto did)."""
    return Signature(
        name=name,
        method_name=proto.method_name,
        inputs={alias: tensor_info(info) for alias, info in proto.inputs.items()},
        outputs={alias: tensor_info(info) for alias, info in proto.outputs.items()},
        defaults=default_inputs(proto) if proto.defaults else {},
    )


def signatures(
    signature_defs: Mapping[str, meta_graph_pb2.SignatureDef],
) -> dict[str, Signature]:
    """Every signature of a MetaGraph by name, in the MetaGraph's order."""
    return {name: signature(name, proto) for name, proto in signature_defs.items()}


def default_inputs(proto: meta_graph_pb2.SignatureDef) -> dict[str, np.ndarray]:
    """The signature's default input values (``SignatureDef.defaults``) as arrays."""
    defaults = proto.defaults
    return {alias: tensor_proto_to_ndarray(defaults[alias]) for alias in sorted(defaults)}


def debug_string(proto: meta_graph_pb2.SignatureDef) -> str:
    """The proto in C++ ``DebugString`` form (text format, maps sorted by key)."""
    return str(text_format.MessageToString(proto))


def shape_debug_string(shape: tuple[int, ...]) -> str:
    """A runtime tensor shape as ``TensorShape::DebugString`` prints it: ``[2,1]``."""
    return "[" + ",".join(str(dim) for dim in shape) + "]"
