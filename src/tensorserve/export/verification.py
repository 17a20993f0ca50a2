"""Reload a written export and check every signature against the source model.

The export is loaded with ``tf.saved_model.load`` (as a serving process would), each
signature is called on the same samples the source model sees, and the largest absolute
difference over all float outputs is reported; other dtypes must match exactly. Warmup
records are replayed too, since TF Serving fails the load when one fails. Costs one
SavedModel load (seconds). Not thread-safe (uses the source model).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tensorserve.export.errors import ExportError
from tensorserve.export.samples import SampleBatch
from tensorserve.export.signatures import (
    CLASSES_OUTPUT,
    CLASSIFY_SIGNATURE,
    IMAGE_FEATURES,
    IMAGE_INPUT,
    SCORES_OUTPUT,
    SignatureOptions,
)
from tensorserve.export.source_model import SourceModel
from tensorserve.export.warmup import read_warmup_file, warmup_path


@dataclasses.dataclass(frozen=True)
class VerificationReport:
    """The largest absolute difference found, and the signatures that were called."""

    max_abs_difference: float
    signatures: tuple[str, ...]
    warmup_records: int


def verify_export(
    version_dir: Path,
    source: SourceModel,
    options: SignatureOptions,
    samples: SampleBatch,
) -> VerificationReport:
    """Compare the export in ``version_dir`` with ``source`` on ``samples``."""
    loaded = tf.saved_model.load(str(version_dir))
    expected = _numpy(source.call({k: tf.constant(v) for k, v in samples.tensors.items()}))
    if options.labels:
        expected = _with_labels(expected, source.output_names[0], options.labels)
    differences = []
    for name, function in loaded.signatures.items():
        actual = _numpy(function(**_signature_inputs(name, function, samples)))
        differences.extend(_compare(name, actual, expected))
    warmup_records = _replay_warmup(version_dir, loaded)
    return VerificationReport(
        max(differences, default=0.0), tuple(sorted(loaded.signatures)), warmup_records
    )


def _signature_inputs(
    signature_name: str, function: Any, samples: SampleBatch
) -> dict[str, tf.Tensor]:
    input_names = set(function.structured_input_signature[1])
    if signature_name == CLASSIFY_SIGNATURE:
        return {"inputs": tf.constant(_examples(samples))}
    if input_names == {IMAGE_INPUT} and samples.encoded_images:
        return {IMAGE_INPUT: tf.constant(list(samples.encoded_images))}
    return {name: tf.constant(samples.tensors[name]) for name in input_names}


def _examples(samples: SampleBatch) -> list[bytes]:
    """Serialized tf.Examples as a REST ``:classify`` request would produce them."""
    examples = []
    for index in range(samples.count):
        feature: dict[str, tf.train.Feature] = {}
        if samples.encoded_images:
            image = samples.encoded_images[index]
            feature[IMAGE_FEATURES[0]] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[image])
            )
        else:
            for name, values in samples.tensors.items():
                flat = values[index].reshape(-1)
                if np.issubdtype(flat.dtype, np.floating):
                    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=flat))
                else:
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=flat))
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        examples.append(example.SerializeToString())
    return examples


def _with_labels(
    expected: dict[str, np.ndarray], scored: str, labels: Sequence[str]
) -> dict[str, np.ndarray]:
    scores = expected[scored]
    if scores.ndim != 2 or scores.shape[-1] != len(labels):
        raise ExportError(
            f"The labels file has {len(labels)} labels but the model's output '{scored}' "
            f"has shape {scores.shape[1:]} per example; they must match."
        )
    classes = np.tile(
        np.array([label.encode() for label in labels], dtype=object), [len(scores), 1]
    )
    return {**expected, SCORES_OUTPUT: scores.astype(np.float32), CLASSES_OUTPUT: classes}


def _compare(
    signature_name: str, actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]
) -> list[float]:
    differences = []
    for key, value in actual.items():
        if key not in expected:
            raise ExportError(f"Signature '{signature_name}' has an unexpected output '{key}'.")
        want = expected[key]
        if value.shape != want.shape:
            raise ExportError(
                f"Signature '{signature_name}' output '{key}' has shape {value.shape}, "
                f"but the model gives {want.shape}."
            )
        if np.issubdtype(value.dtype, np.floating):
            differences.append(float(np.max(np.abs(value - want), initial=0.0)))
        elif not np.array_equal(value, want):
            raise ExportError(
                f"Signature '{signature_name}' output '{key}' differs from the model's."
            )
    return differences


def _replay_warmup(version_dir: Path, loaded: Any) -> int:
    path = warmup_path(version_dir)
    if not path.exists():
        return 0
    logs = read_warmup_file(path)
    for log in logs:
        request = log.predict_log.request
        function = loaded.signatures[request.model_spec.signature_name]
        function(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
    return len(logs)


def _numpy(outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {key: np.asarray(value) for key, value in outputs.items()}
