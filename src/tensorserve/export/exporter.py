"""Export a Keras model or SavedModel to ``<base_dir>/<name>/<version>/`` for serving.

Steps: load (compile=False) → write signatures to a staging directory → fix method names
of classify signatures → write warmup requests → reload and verify against the source
model → (with ``serving_only=False``) keep the Keras file → rename into place. Any
failure removes the staging directory, so a polling server never sees a partial version.
Progress lines go to the ``progress`` callback.

Blocking and CPU-heavy (seconds); not thread-safe for one (base_dir, name) pair.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tensorserve.export import versions
from tensorserve.export.errors import ExportError, write_failure_reason
from tensorserve.export.samples import SampleBatch, random_images, random_tensors
from tensorserve.export.signatures import (
    PREDICT_METHOD,
    Endpoint,
    SignatureOptions,
    build_endpoints,
    image_layout,
)
from tensorserve.export.source_model import (
    KERAS_SUFFIXES,
    SourceModel,
    load_source_model,
    parse_custom_objects,
)
from tensorserve.export.verification import verify_export
from tensorserve.export.warmup import MAX_WARMUP_RECORDS, write_warmup_file

VERIFICATION_SAMPLES = 4
TRAINING_DIR = "training"
"""With ``--no-serving-only``: the source Keras file, beside the SavedModel."""
Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """Everything ``tensorserve export`` takes; see ``export/README.md``."""

    model_path: Path
    name: str
    base_dir: Path = Path("serving_model")
    version: int | None = None  # None: one more than the highest existing version
    overwrite: bool = False
    custom_objects: tuple[str, ...] = ()  # "module:Name" each
    image_input: bool = False
    scale: float = 1 / 255
    labels_path: Path | None = None  # one label per line
    warmup_samples: int = 0
    tolerance: float = 1e-4
    onnx_twins: bool = True  # also write verified ONNX twins (assets.extra/onnx/)
    serving_only: bool = True  # False: keep the Keras file, optimizer state and all


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """Where the export went and how closely it matches the source model."""

    path: Path
    version: int
    max_abs_difference: float
    signatures: tuple[str, ...]


def export_model(options: ExportOptions, progress: Progress | None = None) -> ExportResult:
    """Load, export, verify and publish; raise ``ExportError`` on any user-facing failure."""
    report = progress or (lambda _line: None)
    _validate(options)
    labels = read_labels(options.labels_path) if options.labels_path else ()
    model_dir = options.base_dir / options.name
    version = options.version if options.version is not None else versions.next_version(model_dir)
    target = model_dir / str(version)
    versions.check_target(target, options.overwrite)

    report(f"[1/5] Loading {options.model_path}")
    source = load_source_model(options.model_path, parse_custom_objects(options.custom_objects))
    signature_options = SignatureOptions(options.image_input, options.scale, labels)
    endpoints = build_endpoints(source, signature_options)
    samples = _samples(source, signature_options, max(options.warmup_samples, 1))

    with versions.staging_directory(model_dir, version) as staging:
        report(f"[2/5] Writing signatures {', '.join(e.name for e in endpoints)} to {staging}")
        _write_saved_model(source, endpoints, staging)
        if options.warmup_samples:
            report(f"[3/5] Writing {options.warmup_samples} warmup requests")
            write_warmup_file(staging, options.name, _first(samples, options.warmup_samples))
        report("[4/5] Reloading the export and comparing it with the model")
        try:
            verification = verify_export(
                staging, source, signature_options, _first(samples, VERIFICATION_SAMPLES)
            )
        except tf.errors.OpError as error:
            raise ExportError(
                f"Calling the exported signatures failed: {_first_line(error)}."
            ) from None
        report(f"Largest difference from the model: {verification.max_abs_difference:.3g}")
        if verification.max_abs_difference > options.tolerance:
            raise ExportError(
                f"The export differs from the model by up to "
                f"{verification.max_abs_difference:.3g}, more than the tolerance "
                f"{options.tolerance:g} (--tolerance)."
            )
        if options.onnx_twins:
            _write_onnx_twins(staging, options.tolerance, samples, report)
        if not options.serving_only:
            _keep_training_model(options.model_path, staging, report)
        report(f"[5/5] Publishing {target}")
        versions.publish(staging, target, options.overwrite)
    return ExportResult(target, version, verification.max_abs_difference, verification.signatures)


def _write_onnx_twins(
    staging: Path, tolerance: float, samples: SampleBatch, report: Progress
) -> None:
    """Twins of the predict signatures, checked on the export's own samples."""
    from tensorserve.export.onnx_twins import write_twins

    report("Writing ONNX twins of the signatures (assets.extra/onnx/)")
    first = _first(samples, VERIFICATION_SAMPLES)
    write_twins(staging, tolerance, dict(first.tensors), report)


def _keep_training_model(model_path: Path, staging: Path, report: Progress) -> None:
    """The Keras file as given, byte for byte, under ``training/``: with its optimizer
    state, so training can resume from the served version. Servers load only the
    SavedModel beside it (``saved_model.pb``, ``variables/``, ``assets.extra/``)."""
    target = staging / TRAINING_DIR / model_path.name
    report(f"Keeping the Keras model for training in {TRAINING_DIR}/{model_path.name}")
    try:
        target.parent.mkdir()
        shutil.copyfile(model_path, target)
    except OSError as error:
        raise ExportError(
            f"Cannot copy the Keras model to {target}: {write_failure_reason(error)}."
        ) from None


def read_labels(path: Path) -> tuple[str, ...]:
    """One label per non-empty line, surrounding whitespace stripped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ExportError(f"Cannot read the labels file {path}: {error.strerror}.") from None
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not labels:
        raise ExportError(f"The labels file {path} has no labels.")
    return labels


def _validate(options: ExportOptions) -> None:
    name = options.name
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise ExportError(f"--name must be a plain directory name, got '{name}'.")
    if options.version is not None and options.version < 0:
        raise ExportError(f"--version must be a non-negative integer, got {options.version}.")
    if not 0 <= options.warmup_samples <= MAX_WARMUP_RECORDS:
        raise ExportError(
            f"--warmup-samples must be between 0 and {MAX_WARMUP_RECORDS} "
            f"(TensorFlow Serving refuses more records)."
        )
    if not options.model_path.exists():
        raise ExportError(f"The model path {options.model_path} does not exist.")
    if not options.serving_only and (
        options.model_path.is_dir() or options.model_path.suffix.lower() not in KERAS_SUFFIXES
    ):
        raise ExportError(
            f"--no-serving-only keeps a Keras model for training; {options.model_path} is "
            "not a .keras or .h5 file."
        )


def _samples(source: SourceModel, options: SignatureOptions, count: int) -> SampleBatch:
    count = max(count, VERIFICATION_SAMPLES)
    if options.image_input:
        return random_images(image_layout(source), options.scale, count)
    return random_tensors(source, count)


def _first(samples: SampleBatch, count: int) -> SampleBatch:
    return SampleBatch(
        count,
        {name: values[:count] for name, values in samples.tensors.items()},
        samples.encoded_images[:count],
    )


def _write_saved_model(source: SourceModel, endpoints: Sequence[Endpoint], path: Path) -> None:
    import keras

    archive = keras.export.ExportArchive()
    archive.track(source.trackable)
    for endpoint in endpoints:
        archive.add_endpoint(endpoint.name, endpoint.function, endpoint.input_signature)
    try:
        archive.write_out(str(path), verbose=False)
        _set_method_names(path, {e.name: e.method_name for e in endpoints})
    except (OSError, tf.errors.OpError) as error:
        raise ExportError(
            f"Cannot write the SavedModel to {path}: {write_failure_reason(error)}."
        ) from None


def _set_method_names(path: Path, method_names: dict[str, str]) -> None:
    """TF2 saves every signature as predict; classify needs its own method name."""
    if all(method == PREDICT_METHOD for method in method_names.values()):
        return
    proto_path = path / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(proto_path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        for name, method in method_names.items():
            if name in meta_graph.signature_def:
                meta_graph.signature_def[name].method_name = method
    # Beside it, then renamed: a full disk must not leave a truncated saved_model.pb.
    rewritten = proto_path.with_name(proto_path.name + ".tmp")
    rewritten.write_bytes(saved_model.SerializeToString())
    os.replace(rewritten, proto_path)


def _first_line(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0].rstrip(".") if message.strip() else type(error).__name__
