"""``tensorflow.serving`` messages to and from the data plane's types.

Stateless functions; thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tensorserve.core.errors import Code, InvalidArgument
from tensorserve.core.servable_state import ServableState
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.protos.tfserving import (
    classification_pb2,
    get_model_status_pb2,
    model_pb2,
    regression_pb2,
)
from tensorserve.servables.model import Classifications
from tensorserve.tfserving.tensor_proto import tensor_proto_to_ndarray


def model_spec_from_proto(proto: model_pb2.ModelSpec) -> ModelSpec:
    """The data plane's spec; an empty ``version_label`` means no label, like TF Serving."""
    version = proto.version.value if proto.HasField("version") else None
    label = proto.version_label if proto.WhichOneof("version_choice") == "version_label" else ""
    return ModelSpec(
        name=proto.name,
        version=version,
        label=label or None,
        signature_name=proto.signature_name,
    )


def request_model_spec(request: Any) -> ModelSpec:
    """The spec of a Predict, Classify, Regress or GetModelMetadata request; without
    one, TF Serving's ``Missing ModelSpec`` (a present spec with no name is the data
    plane's ``ModelSpec has no name specified.``)."""
    if not request.HasField("model_spec"):
        raise InvalidArgument("Missing ModelSpec")
    return model_spec_from_proto(request.model_spec)


def fill_model_spec(
    out: model_pb2.ModelSpec, name: str, version: int, signature_name: str | None
) -> None:
    """TF Serving's ``MakeModelSpec``: name, the version used, and the resolved signature
    (``None`` leaves the signature out, as GetModelMetadata does)."""
    out.Clear()
    out.name = name
    out.version.value = version
    if signature_name is not None:
        out.signature_name = signature_name


def inputs_from_proto(inputs: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Decode a ``map<string, TensorProto>``; a bad tensor fails as
    ``tensor parsing error: <alias>`` (TF's ``GetInputValues``)."""
    arrays = {}
    for alias, proto in inputs.items():
        try:
            arrays[alias] = tensor_proto_to_ndarray(proto)  # type: ignore[arg-type]
        except InvalidArgument:
            raise InvalidArgument(f"tensor parsing error: {alias}") from None
    return arrays


def fill_classification_result(
    out: classification_pb2.ClassificationResult, result: Classifications
) -> None:
    """One ``Classifications`` entry per example; a missing classes or scores output
    leaves labels empty or scores 0, as TF Serving does."""
    classes = result.classes.tolist() if result.classes is not None else None
    scores = result.scores.tolist() if result.scores is not None else None
    rows = classes if classes is not None else scores or []
    for i, row in enumerate(rows):
        classifications = out.classifications.add()
        for k in range(len(row)):
            entry = classifications.classes.add()
            if classes is not None:
                entry.label = _text(classes[i][k])
            if scores is not None:
                entry.score = scores[i][k]


def fill_regression_result(out: regression_pb2.RegressionResult, values: np.ndarray) -> None:
    for value in np.asarray(values, dtype=np.float32).ravel().tolist():
        out.regressions.add().value = value


def fill_model_version_status(
    out: get_model_status_pb2.GetModelStatusResponse, states: list[ServableState]
) -> None:
    for state in states:
        entry = out.model_version_status.add()
        entry.version = state.id.version
        entry.state = int(state.state)
        if state.error is not None:
            entry.status.error_code = int(state.error.code)
            entry.status.error_message = state.error.message
        else:
            entry.status.error_code = int(Code.OK)


def _text(label: object) -> str:
    if isinstance(label, bytes):
        return label.decode("utf-8", errors="replace")
    return str(label)
