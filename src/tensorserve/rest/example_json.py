"""Classify / regress JSON: ``examples`` (and ``context``) to serialized ``tf.train.Example``
protos, and model results to the ``results`` response.

Conversion follows ``FillClassifyRegressRequestFromJson``: each feature is a
scalar or a flat list; strings and ``{"b64": ...}`` objects become bytes, JSON
numbers with a fraction or exponent floats, integers and booleans int64; one
feature holds one kind. With a ``context``, each example is the context's
serialized bytes followed by the example's: protobuf merges concatenated
messages, so example features override context features of the same name,
exactly as TensorFlow Serving feeds ``ExampleListWithContext`` to the model.

The protobuf classes come from TensorFlow and are imported on first use, so
importing this module stays cheap. Pure and thread-safe.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.json_document import json_snippet, json_type_name
from tensorserve.rest.json_tensor import decode_base64_object, encode_utf8, is_base64_object
from tensorserve.rest.tensor_json import dumps, tensor_json
from tensorserve.servables.model import Classifications

_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


@functools.cache
def _example_class() -> Any:
    from tensorserve.protos.tfserving import example_pb2  # heavy: first use only

    return example_pb2.Example


def serialized_examples(document: Mapping[str, Any]) -> list[bytes]:
    """Serialized ``tf.train.Example`` per entry of ``examples``, each merged with ``context``.

    Errors say "When method is classify" for regress requests too, as TensorFlow Serving's do.
    """
    context = b""
    if "context" in document:
        context = example_from_json(document["context"]).SerializeToString()
    examples = document.get("examples")
    if "examples" not in document:
        raise InvalidArgument(
            f"JSON Value: {json_snippet(document)} When method is classify, key 'examples' "
            "is expected and was not found"
        )
    if not isinstance(examples, list):
        raise InvalidArgument(
            f"JSON Value: {json_snippet(document)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise InvalidArgument(
            f"JSON Value: {json_snippet(document)} 'examples' value is an empty array"
        )
    return [context + example_from_json(item).SerializeToString() for item in examples]


def example_from_json(value: Any) -> Any:
    """A ``tf.train.Example`` from one JSON object of features."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {json_type_name(value)}")
    example = _example_class()()
    features = example.features.feature
    for name, content in value.items():
        kind, values = feature_values(name, content if isinstance(content, list) else [content])
        try:
            feature = features[name]
        except UnicodeEncodeError:  # invalid UTF-8 in the body; protobuf keys must be text
            raise InvalidArgument(
                f"Feature name: {encode_utf8(name)!r} is not valid UTF-8"
            ) from None
        if kind == "bytes":
            feature.bytes_list.value.extend(values)
        elif kind == "float":
            feature.float_list.value.extend(values)
        elif kind == "int64":
            feature.int64_list.value.extend(values)
    return example


def feature_values(name: str, items: list[Any]) -> tuple[str | None, list[Any]]:
    """The feature kind (``int64``, ``float``, ``bytes``; None when empty) and its values."""
    kind: str | None = None
    values: list[Any] = []
    for item in items:
        item_kind, item_value = _feature_item(name, item, kind)
        if kind is None:
            kind = item_kind
        values.append(item_value)
    return kind, values


def _feature_item(name: str, item: Any, kind: str | None) -> tuple[str, Any]:
    if (
        item is None
        or isinstance(item, list)
        or (isinstance(item, dict) and not is_base64_object(item))
    ):
        raise InvalidArgument(
            f"Feature: {name} has element with unexpected JSON type: {json_type_name(item)}"
        )
    if isinstance(item, bool):
        _check_kind(name, kind, "int64")
        return "int64", int(item)
    if isinstance(item, dict):
        _check_kind(name, kind, "bytes")
        return "bytes", decode_base64_object(item)
    if isinstance(item, str):
        _check_kind(name, kind, "bytes")
        return "bytes", encode_utf8(item)
    if isinstance(item, int) and _INT64_MIN <= item <= _UINT64_MAX:
        _check_kind(name, kind, "int64")
        if item > _INT64_MAX:
            raise InvalidArgument(
                f"Feature: {name} has uint64_t element. Only int64_t is supported."
            )
        return "int64", item
    # A fraction or exponent (or an integer too big for 64 bits): rapidjson reads a double.
    _check_kind(name, kind, "float")
    try:
        return "float", float(item)
    except OverflowError:
        return "float", float("inf") if item > 0 else float("-inf")


def _check_kind(name: str, kind: str | None, wanted: str) -> None:
    if kind is not None and kind != wanted:
        raise InvalidArgument(f"Unexpected element type in feature: {name} expecting type: {kind}")


def render_classify_results(result: Classifications) -> bytes:
    """``{"results": [[[label, score], ...] per example]}``; label "" / score 0 when absent."""
    reference = result.classes if result.classes is not None else result.scores
    if reference is None or np.shape(reference)[0] == 0:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    batch, width = np.shape(reference)[0], int(np.prod(np.shape(reference)[1:], dtype=np.int64))
    labels = _labels(result.classes, batch, width)
    scores = _scores(result.scores, batch, width)
    rows = [
        [[label, score] for label, score in zip(row_labels, row_scores, strict=True)]
        for row_labels, row_scores in zip(labels, scores, strict=True)
    ]
    return dumps({"results": rows})


def _labels(classes: np.ndarray | None, batch: int, width: int) -> list[list[str]]:
    if classes is None:
        return [[""] * width for _ in range(batch)]
    flat = np.asarray(classes).reshape(batch, width).tolist()
    return [
        [c.decode("utf-8", errors="replace") if isinstance(c, bytes) else str(c) for c in row]
        for row in flat
    ]


def _scores(scores: np.ndarray | None, batch: int, width: int) -> list[list[Any]]:
    if scores is None:
        return [[0.0] * width for _ in range(batch)]
    as_float = np.asarray(scores, dtype=np.float32).reshape(batch, width)
    return [[tensor_json(np.asarray(s), "") for s in row] for row in as_float]


def render_regress_results(values: np.ndarray) -> bytes:
    """``{"results": [v1, v2, ...]}``, one value per example."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    if flat.size == 0:
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    return dumps({"results": tensor_json(flat, "")})
