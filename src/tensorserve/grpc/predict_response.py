"""A Predict answer written straight to its wire format.

The ``PredictResponse`` is ``outputs`` (field 1, a map of alias to ``TensorProto``) and
``model_spec`` (field 2). Its bytes are the small ``model_spec`` part serialized by
protobuf, then one map entry per output (key, then the tensor from
:func:`~tensorserve.tfserving.tensor_proto.tensor_proto_pieces`), joined once. A parser
reads them as the message protobuf would have built: fields may come in any order, and
each map entry is a record of its own. For 19 MB of float outputs this is one copy of
the values instead of a parse and an element-wise encode (about 6 ms against 34 ms).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tensorserve.grpc.proto_conversion import fill_model_spec
from tensorserve.grpc.serialized_response import SerializedResponse
from tensorserve.protos.tfserving import predict_pb2
from tensorserve.protos.wire import length_delimited, varint
from tensorserve.tfserving.tensor_proto import tensor_proto_pieces

_OUTPUTS_TAG = length_delimited(1)  # PredictResponse.outputs
_KEY_TAG = length_delimited(1)  # a map entry's key
_VALUE_TAG = length_delimited(2)  # a map entry's value


def predict_response(
    name: str,
    version: int,
    signature_name: str,
    outputs: Mapping[str, np.ndarray],
    *,
    as_tensor_content: bool = False,
) -> SerializedResponse:
    """TF Serving's answer to Predict: the resolved spec and every output."""
    head = predict_pb2.PredictResponse()
    fill_model_spec(head.model_spec, name, version, signature_name)
    pieces: list[bytes | memoryview] = [head.SerializeToString()]
    for alias, array in outputs.items():
        tensor = tensor_proto_pieces(array, as_tensor_content=as_tensor_content)
        tensor_size = sum(len(piece) for piece in tensor)
        key = alias.encode("utf-8")
        entry_head = _KEY_TAG + varint(len(key)) + key + _VALUE_TAG + varint(tensor_size)
        entry_size = len(entry_head) + tensor_size
        pieces.append(_OUTPUTS_TAG + varint(entry_size) + entry_head)
        pieces.extend(tensor)
    return SerializedResponse(b"".join(pieces))
