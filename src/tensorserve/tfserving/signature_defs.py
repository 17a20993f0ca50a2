"""TensorFlow Serving's ``SignatureDefMap`` built from protocol-neutral signatures.

GetModelMetadata (REST and gRPC) answers with this proto. It is made from the
model's :class:`~tensorserve.servables.signature.Signature` values, never from
a platform's own protos, so any model can be described; for a SavedModel the
result serializes byte for byte as the MetaGraph's ``SignatureDef`` map did.
Pure; thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping

from tensorserve.protos.tfserving import get_model_metadata_pb2, meta_graph_pb2
from tensorserve.servables.signature import Signature, TensorInfo


def signature_def_map(
    signatures: Mapping[str, Signature],
) -> get_model_metadata_pb2.SignatureDefMap:
    """A ``tensorflow.serving.SignatureDefMap`` describing ``signatures``."""
    result = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in signatures.items():
        proto = result.signature_def[name]
        proto.method_name = signature.method_name
        for alias, info in signature.inputs.items():
            _fill_tensor_info(proto.inputs[alias], info)
        for alias, info in signature.outputs.items():
            _fill_tensor_info(proto.outputs[alias], info)
        if signature.defaults:
            from tensorserve.tfserving.tensor_proto import ndarray_to_tensor_proto

            for alias, value in signature.defaults.items():
                ndarray_to_tensor_proto(value, out=proto.defaults[alias])
    return result


def _fill_tensor_info(proto: meta_graph_pb2.TensorInfo, info: TensorInfo) -> None:
    proto.name = info.name
    proto.dtype = info.dtype
    if not info.declares_shape:
        return
    shape = proto.tensor_shape
    shape.SetInParent()  # a scalar's shape is present but empty
    if info.shape is None:
        shape.unknown_rank = True
        return
    for size in info.shape:
        shape.dim.add().size = size
