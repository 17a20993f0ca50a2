"""Write and verify ONNX twins of a SavedModel's predict signatures.

For each signature, ``tf2onnx`` converts the SavedModel's graph for that
signature alone (its input and output names become the signature's aliases);
ONNX Runtime then runs the twin on sample inputs beside TensorFlow, and the
twin is kept only when every float output is within the tolerance and every
other output is equal. A signature with a string input (decoding image bytes,
parsing ``tf.Example``), one that fails to convert, or one that disagrees stays
TensorFlow-only, with the reason recorded; that is never an error. Blocking,
seconds per signature; not thread-safe (tf2onnx uses TensorFlow's default graph).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tensorserve.platforms.onnx.agreement import max_difference
from tensorserve.platforms.onnx.twin_manifest import (
    TENSORFLOW_ONLY,
    TWINS_DIR,
    VERIFIED,
    TwinRecord,
    twin_filename,
    write_manifest,
)

OPSET = 17
SAMPLE_BATCH = 4
Report = Callable[[str], None]


def write_twins(
    version_dir: Path,
    tolerance: float,
    samples: Mapping[str, np.ndarray] | None = None,
    report: Report | None = None,
    tags: str = "serve",
) -> dict[str, TwinRecord]:
    """Convert, verify and record a twin for every signature of ``version_dir``.

    ``samples`` (by input alias) are used for a signature whose inputs they
    cover; others get seeded random inputs of the signature's shapes.
    """
    say = report or (lambda _line: None)
    loaded = tf.saved_model.load(str(version_dir))
    records: dict[str, TwinRecord] = {}
    for name in sorted(loaded.signatures):
        function = loaded.signatures[name]
        records[name] = _twin(version_dir, name, function, tolerance, samples, tags)
        record = records[name]
        if record.verified:
            say(
                f"ONNX twin of {name}: verified, largest difference "
                f"{record.max_abs_difference:.3g} (tolerance {tolerance:g})"
            )
        else:
            say(f"ONNX twin of {name}: none, stays TensorFlow-only ({record.reason})")
    write_manifest(version_dir, records)
    return records


def _twin(
    version_dir: Path,
    name: str,
    function: Any,
    tolerance: float,
    samples: Mapping[str, np.ndarray] | None,
    tags: str,
) -> TwinRecord:
    _, specs = function.structured_input_signature
    if any(spec.dtype == tf.string for spec in specs.values()):
        return TwinRecord(TENSORFLOW_ONLY, reason="it takes strings (image bytes or tf.Example)")
    try:
        model_bytes = convert_signature(version_dir, name, tags)
    except Exception as exc:
        return TwinRecord(TENSORFLOW_ONLY, reason=f"tf2onnx cannot convert it: {_first_line(exc)}")
    inputs = _sample_inputs(specs, samples)
    try:
        difference = compare(function, model_bytes, inputs)
    except Exception as exc:
        return TwinRecord(TENSORFLOW_ONLY, reason=f"the twin does not run: {_first_line(exc)}")
    if difference > tolerance:
        return TwinRecord(
            TENSORFLOW_ONLY,
            max_abs_difference=difference,
            tolerance=tolerance,
            reason=f"the twin differs by {difference:.3g}, more than the tolerance {tolerance:g}",
        )
    filename = twin_filename(name)
    path = version_dir / TWINS_DIR / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model_bytes)
    return TwinRecord(VERIFIED, filename, difference, tolerance)


def convert_signature(version_dir: Path, name: str, tags: str = "serve") -> bytes:
    """One signature of a SavedModel as a serialized ONNX model (tf2onnx, as its CLI
    ``--saved-model DIR --signature_def NAME`` does, without its log output)."""
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
            str(version_dir),
            None,
            None,
            tags,
            [name],
            return_initialized_tables=True,
            return_tensors_to_rename=True,
        )
        with tf.device("/cpu:0"):
            proto, _ = _convert_common(
                graph_def,
                name=name,
                opset=OPSET,
                input_names=inputs,
                output_names=outputs,
                tensors_to_rename=renames,
                initialized_tables=tables,
            )
    return bytes(proto.SerializeToString())


def compare(function: Any, model_bytes: bytes, inputs: Mapping[str, np.ndarray]) -> float:
    """The largest absolute difference between TensorFlow's and the twin's float outputs;
    ``inf`` when an output is missing or a non-float output differs."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    expected = {
        k: v.numpy() for k, v in function(**{k: tf.constant(v) for k, v in inputs.items()}).items()
    }
    names = [arg.name for arg in session.get_outputs()]
    actual = dict(zip(names, session.run(names, dict(inputs)), strict=True))
    return max_difference(expected, actual)


def _sample_inputs(
    specs: Mapping[str, Any], samples: Mapping[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    if samples is not None and set(specs) <= set(samples):
        return {
            alias: np.asarray(samples[alias], spec.dtype.as_numpy_dtype)
            for alias, spec in specs.items()
        }
    rng = np.random.default_rng(0)
    inputs = {}
    for alias, spec in specs.items():
        shape = [SAMPLE_BATCH if d is None else d for d in spec.shape.as_list()]
        dtype = np.dtype(spec.dtype.as_numpy_dtype)
        if dtype.kind == "f":
            inputs[alias] = rng.random(shape).astype(dtype)
        elif dtype.kind == "b":
            inputs[alias] = rng.random(shape) > 0.5
        else:
            inputs[alias] = rng.integers(0, 4, shape).astype(dtype)
    return inputs


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
