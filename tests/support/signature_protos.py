"""``Signature`` objects as the ``SignatureDefMap`` proto a real model's metadata carries,
for fake models in transport tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorserve.servables.signature import Signature


def signature_def_map(signatures: Mapping[str, Signature]) -> Any:
    """A ``tensorflow.serving.SignatureDefMap`` with each signature's method, tensor
    names, dtypes and (when known) shapes."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    result = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in signatures.items():
        proto = result.signature_def[name]
        proto.method_name = signature.method_name
        for target, infos in ((proto.inputs, signature.inputs), (proto.outputs, signature.outputs)):
            for alias, info in infos.items():
                target[alias].name = info.name
                target[alias].dtype = info.dtype
                for size in info.shape or ():
                    target[alias].tensor_shape.dim.add().size = size
    return result
