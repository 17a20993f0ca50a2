"""Reads the top classes out of a predict answer, whatever the model's outputs are called.

Scores come from a ``scores`` output when there is one, else from the first float output;
labels from a ``classes`` output when there is one, else the class indexes as strings.
Pure functions; thread-safe.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tensorserve.webapp import errors
from tensorserve.webapp.metadata import SignatureSpec

SCORE_OUTPUT_NAMES = ("scores", "probabilities", "probs", "predictions", "logits")
LABEL_OUTPUT_NAME = "classes"
_FLOAT_DTYPES = ("DT_FLOAT", "DT_DOUBLE", "DT_HALF", "DT_BFLOAT16")


@dataclass(frozen=True)
class Prediction:
    """One class and its score."""

    label: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score}


def top_predictions(
    model: str, signature: SignatureSpec, predictions: list[Any], k: int
) -> list[Prediction]:
    """The ``k`` best classes of the first row of a row-format answer, best first."""
    if not predictions:
        raise errors.UnexpectedAnswer("the predict answer has no rows")
    row = predictions[0]
    outputs = _outputs_of_row(signature, row)
    score_alias = _score_output(model, signature)
    scores = [float(v) for v in _flatten(outputs.get(score_alias))]
    raw_labels = (
        _flatten(outputs.get(LABEL_OUTPUT_NAME)) if score_alias != LABEL_OUTPUT_NAME else []
    )
    labels = [_label_text(value) for value in raw_labels]
    ranked = [
        Prediction(labels[i] if i < len(labels) and labels[i] else str(i), score)
        for i, score in enumerate(scores)
    ]
    ranked.sort(key=lambda p: -p.score if not math.isnan(p.score) else math.inf)
    return ranked[:k]


def bar_scale(predictions: list[Prediction]) -> float:
    """The value a full bar stands for: 1 for probabilities, else the largest magnitude."""
    largest = max((abs(p.score) for p in predictions if math.isfinite(p.score)), default=1.0)
    return max(1.0, largest)


def _outputs_of_row(signature: SignatureSpec, row: Any) -> Mapping[str, Any]:
    """Name -> value: several outputs come as an object per row, a single one bare."""
    if len(signature.outputs) == 1:
        return {signature.outputs[0].alias: row}
    if not isinstance(row, dict):
        raise errors.UnexpectedAnswer("a row is not an object of outputs, though there are several")
    return row


def _score_output(model: str, signature: SignatureSpec) -> str:
    aliases = [o.alias for o in signature.outputs]
    for name in SCORE_OUTPUT_NAMES:
        if name in aliases:
            return name
    floats = [o.alias for o in signature.outputs if o.dtype in _FLOAT_DTYPES]
    if floats:
        return floats[0]
    raise errors.UnsupportedSignature(
        model, f"signature {signature.name!r} has no float output to read scores from"
    )


def _flatten(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def _label_text(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("b64"), str):
        return base64.b64decode(value["b64"]).decode("utf-8", errors="replace")
    return str(value)
