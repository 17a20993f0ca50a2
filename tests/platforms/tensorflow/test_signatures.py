"""Tests of SignatureDef conversion and TensorFlow-style rendering."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from tensorserve.platforms.tensorflow import signatures
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import TensorInfo


def test_tensor_info_keeps_unknown_dims_and_rank() -> None:
    proto = meta_graph_pb2.TensorInfo(name="x:0", dtype=DataType.DT_INT64)
    proto.tensor_shape.dim.add(size=-1)
    proto.tensor_shape.dim.add(size=3)
    assert signatures.tensor_info(proto) == TensorInfo("x:0", DataType.DT_INT64, (-1, 3))
    proto.tensor_shape.unknown_rank = True
    proto.tensor_shape.ClearField("dim")
    assert signatures.tensor_info(proto).shape is None


def test_defaults_decode_to_arrays_and_mark_the_signature() -> None:
    proto = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    proto.inputs["x"].name = "x:0"
    proto.defaults["x"].CopyFrom(tf.make_tensor_proto(np.array([1.5], dtype=np.float32)))
    assert signatures.signature("s", proto).has_defaults
    np.testing.assert_array_equal(signatures.default_inputs(proto)["x"], [1.5])


def test_empty_name_resolves_to_serving_default() -> None:
    assert signatures.resolve_signature_name("") == "serving_default"
    assert signatures.resolve_signature_name("other") == "other"


def test_shape_and_set_rendering_match_tensorflow() -> None:
    assert signatures.shape_debug_string((2, 1)) == "[2,1]"
    assert signatures.shape_debug_string(()) == "[]"
