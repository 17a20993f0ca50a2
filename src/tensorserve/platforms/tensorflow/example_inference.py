"""Classify and regress as TensorFlow Serving runs them on a SignatureDef.

Both feed one string tensor of serialized ``tf.Example`` protos to the
signature's ``inputs`` and read ``classes``/``scores`` or ``outputs``. These
pure functions validate the signature (before running) and the output tensors
(after), with TensorFlow Serving's codes and texts (``classifier.cc``,
``regressor.cc``, ``multi_inference.cc``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2

from tensorserve.core import errors
from tensorserve.servables.dtypes import DataType, from_numpy
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD

from .signatures import debug_string, shape_debug_string

CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"


def check_predict_method(proto: meta_graph_pb2.SignatureDef) -> None:
    """With the method-name check on, predict accepts any of the three serving methods."""
    if proto.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
        raise errors.Internal(
            "Expected prediction signature method_name to be one of "
            f"{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. "
            f"Was: {proto.method_name}"
        )


def classification_tensors(
    proto: meta_graph_pb2.SignatureDef, check_method_name: bool
) -> tuple[str, list[str]]:
    """The input tensor name and the output tensor names (classes first, then scores)
    of a classify signature; raises if the signature cannot classify."""
    if check_method_name and proto.method_name != CLASSIFY_METHOD:
        raise errors.InvalidArgument(
            f"Expected classification signature method_name to be {CLASSIFY_METHOD}. "
            f"Was: {proto.method_name}"
        )
    if len(proto.inputs) != 1:
        raise errors.InvalidArgument("Expected one input Tensor.")
    if len(proto.outputs) not in (1, 2):
        raise errors.InvalidArgument(
            f"Expected one or two output Tensors, found {len(proto.outputs)}"
        )
    if CLASSIFY_INPUTS not in proto.inputs:
        raise errors.InvalidArgument(
            f"No classification inputs found in SignatureDef: {debug_string(proto)}"
        )
    if CLASSIFY_CLASSES not in proto.outputs and CLASSIFY_SCORES not in proto.outputs:
        raise errors.InvalidArgument(
            "Expected classification signature outputs to contain at least one of "
            f'"{CLASSIFY_CLASSES}" or "{CLASSIFY_SCORES}". '
            f"Signature was: {debug_string(proto)}"
        )
    outputs = [
        proto.outputs[alias].name
        for alias in (CLASSIFY_CLASSES, CLASSIFY_SCORES)
        if alias in proto.outputs
    ]
    return proto.inputs[CLASSIFY_INPUTS].name, outputs


def regression_tensors(
    proto: meta_graph_pb2.SignatureDef, check_method_name: bool
) -> tuple[str, list[str]]:
    """The input tensor name and ``[output tensor name]`` of a regress signature;
    raises if the signature cannot regress."""
    if check_method_name and proto.method_name != REGRESS_METHOD:
        raise errors.InvalidArgument(
            f"Expected regression signature method_name to be {REGRESS_METHOD}. "
            f"Was: {proto.method_name}"
        )
    if len(proto.inputs) != 1:
        raise errors.InvalidArgument("Expected one input Tensor.")
    if len(proto.outputs) != 1:
        raise errors.InvalidArgument("Expected one output Tensor.")
    if REGRESS_INPUTS not in proto.inputs:
        raise errors.InvalidArgument(
            f"No regression inputs found in SignatureDef: {debug_string(proto)}"
        )
    if REGRESS_OUTPUTS not in proto.outputs:
        raise errors.InvalidArgument(
            f"No regression outputs found in SignatureDef: {debug_string(proto)}"
        )
    return proto.inputs[REGRESS_INPUTS].name, [proto.outputs[REGRESS_OUTPUTS].name]


def _dtype_name(array: np.ndarray) -> str:
    try:
        return from_numpy(array.dtype).name
    except KeyError:
        return DataType.DT_INVALID.name


def _check_class_tensor(
    array: np.ndarray, what: str, expected: DataType, num_examples: int
) -> None:
    if array.ndim != 2:
        raise errors.InvalidArgument(
            "Expected Tensor shape: [batch_size num_classes] but got "
            f"{shape_debug_string(array.shape)}"
        )
    if _dtype_name(array) != expected.name:
        raise errors.InvalidArgument(
            f"Expected {what} Tensor of {expected.name}. Got: {_dtype_name(array)}"
        )
    if array.shape[0] != num_examples:
        raise errors.InvalidArgument(
            f"Expected {what} output batch size of {num_examples}. Got: {array.shape[0]}"
        )


def classifications(
    proto: meta_graph_pb2.SignatureDef, num_examples: int, fetched: Mapping[str, np.ndarray]
) -> Classifications:
    """Validate the fetched classes/scores (keyed by tensor name) and return them."""
    classes = scores = None
    if CLASSIFY_CLASSES in proto.outputs:
        classes = fetched[proto.outputs[CLASSIFY_CLASSES].name]
        _check_class_tensor(classes, "classes", DataType.DT_STRING, num_examples)
    if CLASSIFY_SCORES in proto.outputs:
        scores = fetched[proto.outputs[CLASSIFY_SCORES].name]
        _check_class_tensor(scores, "scores", DataType.DT_FLOAT, num_examples)
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise errors.InvalidArgument(
            "Tensors class and score should match in dim_size(1). "
            f"Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    return Classifications(classes=classes, scores=scores)


def regressions(
    proto: meta_graph_pb2.SignatureDef, num_examples: int, fetched: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Validate the fetched regression output (keyed by tensor name); return ``[batch]``."""
    output = fetched[proto.outputs[REGRESS_OUTPUTS].name]
    if not (output.ndim == 1 or (output.ndim == 2 and output.shape[1] == 1)):
        raise errors.InvalidArgument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
            f"but got {shape_debug_string(output.shape)}"
        )
    if output.shape[0] != num_examples:
        raise errors.InvalidArgument(
            "Input batch size did not match output batch size: "
            f"{num_examples} vs. {output.shape[0]}"
        )
    if _dtype_name(output) != DataType.DT_FLOAT.name:
        raise errors.InvalidArgument(
            f"Expected output Tensor of DT_FLOAT.  Got: {_dtype_name(output)}"
        )
    return output.reshape(num_examples)
