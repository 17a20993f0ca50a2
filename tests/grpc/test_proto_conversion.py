"""tensorflow.serving messages <-> data plane types."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow_serving.apis import classification_pb2, model_pb2

from tensorserve.core.errors import InvalidArgument
from tensorserve.dataplane import ModelSpec
from tensorserve.grpc.proto_conversion import (
    fill_classification_result,
    fill_model_spec,
    inputs_from_proto,
    model_spec_from_proto,
)
from tensorserve.servables.model import Classifications


@pytest.mark.parametrize(
    ("proto", "spec"),
    [
        (model_pb2.ModelSpec(name="m"), ModelSpec("m")),
        (model_pb2.ModelSpec(name="m", version={"value": 0}), ModelSpec("m", version=0)),
        (
            model_pb2.ModelSpec(name="m", version_label="stable", signature_name="s"),
            ModelSpec("m", label="stable", signature_name="s"),
        ),
        (model_pb2.ModelSpec(name="m", version_label=""), ModelSpec("m")),
    ],
)
def test_model_spec_from_proto(proto: model_pb2.ModelSpec, spec: ModelSpec) -> None:
    assert model_spec_from_proto(proto) == spec


def test_fill_model_spec_replaces_everything() -> None:
    out = model_pb2.ModelSpec(version_label="old")
    fill_model_spec(out, "m", 4, "serving_default")
    assert out == model_pb2.ModelSpec(
        name="m", version={"value": 4}, signature_name="serving_default"
    )


def test_bad_input_tensor_names_its_alias() -> None:
    request_inputs = {"good": _float_proto(), "bad": _float_proto(content=b"\x01")}
    with pytest.raises(InvalidArgument, match=r"^tensor parsing error: bad$"):
        inputs_from_proto(request_inputs)


def _float_proto(content: bytes = b"") -> object:
    from tensorflow.core.framework import tensor_pb2, types_pb2

    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=content)
    proto.tensor_shape.dim.add().size = 1
    return proto


def test_classification_without_classes_has_empty_labels() -> None:
    out = classification_pb2.ClassificationResult()
    fill_classification_result(out, Classifications(None, np.array([[0.5, 0.25]])))
    assert [(c.label, c.score) for c in out.classifications[0].classes] == [("", 0.5), ("", 0.25)]


def test_classification_without_scores_has_zero_scores() -> None:
    out = classification_pb2.ClassificationResult()
    fill_classification_result(out, Classifications(np.array([[b"a"], [b"b"]], object), None))
    assert [[(c.label, c.score) for c in row.classes] for row in out.classifications] == [
        [("a", 0.0)],
        [("b", 0.0)],
    ]
