import json

import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.dataplane import RepositoryEntry
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.v2.metadata import (
    render_model_metadata,
    render_repository_index,
    render_server_metadata,
)


def test_server_metadata_lists_the_extensions() -> None:
    document = json.loads(render_server_metadata())
    assert document["name"] == "tensorserve"
    assert "binary_tensor_data" in document["extensions"]
    assert "model_repository" in document["extensions"]


def test_model_metadata_uses_aliases_and_v2_shapes() -> None:
    signature = Signature(
        "serving_default",
        PREDICT_METHOD,
        inputs={"x": TensorInfo("x:0", DataType.DT_FLOAT, (-1, 3))},
        outputs={"y": TensorInfo("y:0", DataType.DT_STRING, None)},
    )
    document = json.loads(render_model_metadata("m", [3, 1], "tensorflow", signature))
    assert document == {
        "name": "m",
        "versions": ["1", "3"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "BYTES", "shape": [-1]}],
    }


def test_a_dtype_without_v2_datatype_is_named() -> None:
    signature = Signature(
        "serving_default",
        PREDICT_METHOD,
        inputs={"c": TensorInfo("c:0", DataType.DT_COMPLEX64, (1,))},
        outputs={},
    )
    with pytest.raises(InvalidArgument, match="'c' uses DT_COMPLEX64"):
        render_model_metadata("m", [1], "tensorflow_savedmodel", signature)


def test_repository_index_omits_empty_versions_and_filters_ready() -> None:
    entries = [
        RepositoryEntry("a", "1", "READY", ""),
        RepositoryEntry("b", "", "UNAVAILABLE", "unloaded"),
    ]
    assert json.loads(render_repository_index(entries)) == [
        {"name": "a", "version": "1", "state": "READY", "reason": ""},
        {"name": "b", "state": "UNAVAILABLE", "reason": "unloaded"},
    ]
    assert [e["name"] for e in json.loads(render_repository_index(entries, ready_only=True))] == [
        "a"
    ]
