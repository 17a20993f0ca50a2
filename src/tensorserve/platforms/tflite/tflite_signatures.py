"""The signatures of a ``model.tflite``, found as TensorFlow Serving finds them.

In order of preference: the ``signature_defs_metadata`` that TensorFlow's
``signature_def_util`` writes (SignatureDef protos in a flexbuffer map, keyed
by name, with aliases and ``name:0`` tensor names); else the model's own
signature runners (TFLite converters since TF 2.7); else one
``serving_default`` signature whose aliases are the input and output tensor
names. Each signature is a neutral :class:`Signature` plus its alias ->
tensor-index maps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from flatbuffers import flexbuffers
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.lite.python import schema_py_generated as schema

from tensorserve.servables.dtypes import DataType, from_numpy
from tensorserve.servables.signature import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorInfo

SIGNATURE_DEFS_METADATA = b"signature_defs_metadata"


@dataclasses.dataclass(frozen=True, slots=True)
class TfLiteSignature:
    """A signature and where its aliases live in the interpreter (tensor indices)."""

    signature: Signature
    input_indices: Mapping[str, int]
    output_indices: Mapping[str, int]
    runner_key: str | None = None
    """Set when the signature is a signature runner's: it is run through that runner."""


def _dtype(numpy_type: Any) -> DataType:
    try:
        return from_numpy(np.dtype(numpy_type))
    except (KeyError, TypeError):
        return DataType.DT_INVALID


def _info(details: Mapping[str, Any]) -> TensorInfo:
    shape = details.get("shape_signature")
    if shape is None or len(shape) == 0:
        shape = details["shape"]
    return TensorInfo(
        name=details["name"], dtype=_dtype(details["dtype"]), shape=tuple(int(d) for d in shape)
    )


def signature_defs_metadata(model_bytes: bytes) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs stored in the model's metadata; empty when it has none."""
    model = schema.Model.GetRootAsModel(model_bytes, 0)
    for i in range(model.MetadataLength()):
        metadata = model.Metadata(i)
        if metadata.Name() != SIGNATURE_DEFS_METADATA:
            continue
        data = model.Buffers(metadata.Buffer()).DataAsNumpy().tobytes()
        entries = flexbuffers.GetRoot(data).AsMap
        defs = {}
        for key, value in zip(entries.Keys, entries.Values, strict=True):
            proto = meta_graph_pb2.SignatureDef()
            proto.ParseFromString(value.AsStringBytes)
            defs[key.AsKey] = proto
        return defs
    return {}


def tflite_signatures(interpreter: Any, model_bytes: bytes) -> dict[str, TfLiteSignature]:
    """Every signature of a loaded interpreter, by name."""
    by_name = {d["name"]: d for d in interpreter.get_input_details()}
    by_name.update({d["name"]: d for d in interpreter.get_output_details()})
    defs = signature_defs_metadata(model_bytes)
    if defs:
        return {name: _from_signature_def(name, proto, by_name) for name, proto in defs.items()}
    runners = interpreter.get_signature_list()
    if runners:
        return {key: _from_runner(interpreter, key) for key in runners}
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    outputs = {d["name"]: d for d in interpreter.get_output_details()}
    return {DEFAULT_SIGNATURE: _from_details(DEFAULT_SIGNATURE, inputs, outputs)}


def _tensor_details(name: str, by_name: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    bare = name[:-2] if name.endswith(":0") else name
    details = by_name.get(name) or by_name.get(bare)
    if details is None:
        raise ValueError(f"signature tensor {name} is not an input or output of the model")
    return details


def _from_signature_def(
    name: str, proto: meta_graph_pb2.SignatureDef, by_name: Mapping[str, Mapping[str, Any]]
) -> TfLiteSignature:
    inputs = {alias: _tensor_details(info.name, by_name) for alias, info in proto.inputs.items()}
    outputs = {alias: _tensor_details(info.name, by_name) for alias, info in proto.outputs.items()}
    built = _from_details(name, inputs, outputs)
    signature = dataclasses.replace(built.signature, method_name=proto.method_name)
    return dataclasses.replace(built, signature=signature)


def _from_runner(interpreter: Any, key: str) -> TfLiteSignature:
    runner = interpreter.get_signature_runner(key)
    built = _from_details(key, runner.get_input_details(), runner.get_output_details())
    return dataclasses.replace(built, runner_key=key)


def _from_details(
    name: str,
    inputs: Mapping[str, Mapping[str, Any]],
    outputs: Mapping[str, Mapping[str, Any]],
) -> TfLiteSignature:
    return TfLiteSignature(
        signature=Signature(
            name=name,
            method_name=PREDICT_METHOD,
            inputs={alias: _info(d) for alias, d in inputs.items()},
            outputs={alias: _info(d) for alias, d in outputs.items()},
        ),
        input_indices={alias: int(d["index"]) for alias, d in inputs.items()},
        output_indices={alias: int(d["index"]) for alias, d in outputs.items()},
    )
