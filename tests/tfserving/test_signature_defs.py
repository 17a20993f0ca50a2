"""GetModelMetadata's SignatureDefMap, built from neutral signatures, is the one the
SavedModel itself holds, byte for byte (TF Serving's own test models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from tensorserve.platforms.tensorflow import signatures
from tensorserve.rest.status_json import render_model_metadata
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.tfserving import signature_def_map
from tests.support.paths import TFSERVING_TESTDATA

SAVED_MODELS = sorted(TFSERVING_TESTDATA.glob("*/*/saved_model.pb"))


def _as_saved(meta_graph: object) -> get_model_metadata_pb2.SignatureDefMap:
    """The map as GetModelMetadata wrote it before it was built from neutral types."""
    result = get_model_metadata_pb2.SignatureDefMap()
    for name, proto in meta_graph.signature_def.items():  # type: ignore[attr-defined]
        result.signature_def[name].CopyFrom(proto)
    return result


@pytest.mark.skipif(not SAVED_MODELS, reason="TF Serving's test models (../shared) are absent")
@pytest.mark.parametrize("path", SAVED_MODELS, ids=lambda p: str(p.relative_to(TFSERVING_TESTDATA)))
def test_metadata_of_tf_servings_test_models_is_byte_identical(path: Path) -> None:
    meta_graph = saved_model_pb2.SavedModel.FromString(path.read_bytes()).meta_graphs[0]
    expected = _as_saved(meta_graph)
    built = signature_def_map(signatures.signatures(dict(meta_graph.signature_def)))
    assert built.SerializeToString() == expected.SerializeToString()
    assert render_model_metadata("m", 1, built) == render_model_metadata("m", 1, expected)


def test_a_model_without_a_saved_model_is_described() -> None:
    described = signature_def_map(
        {
            "serving_default": Signature(
                "serving_default",
                PREDICT_METHOD,
                {
                    "x": TensorInfo("x", DataType.DT_FLOAT, (-1, 3)),
                    "s": TensorInfo("s", DataType.DT_STRING, ()),
                    "u": TensorInfo("u", DataType.DT_INT64, None),
                    "n": TensorInfo("n", DataType.DT_INT32, None, declares_shape=False),
                },
                {"y": TensorInfo("y", DataType.DT_FLOAT, (-1,))},
                defaults={"s": np.array(b"hi", dtype=object)},
            )
        }
    ).signature_def["serving_default"]
    assert described.method_name == PREDICT_METHOD
    assert [d.size for d in described.inputs["x"].tensor_shape.dim] == [-1, 3]
    assert described.inputs["s"].HasField("tensor_shape")
    assert not described.inputs["s"].tensor_shape.dim
    assert described.inputs["u"].tensor_shape.unknown_rank
    assert not described.inputs["n"].HasField("tensor_shape")
    assert described.outputs["y"].dtype == DataType.DT_FLOAT
    assert described.defaults["s"].string_val == [b"hi"]
