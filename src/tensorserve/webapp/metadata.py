"""Typed views of TensorFlow Serving's status and metadata JSON (spec §3.6).

Parsing is lenient about missing fields (proto JSON may omit defaults) and strict about
types, so a surprising server answer fails here with a clear message rather than later.
All objects are immutable and safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AVAILABLE = "AVAILABLE"
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"


@dataclass(frozen=True)
class VersionStatus:
    """One entry of ``model_version_status``."""

    version: str
    state: str
    error_code: str
    error_message: str

    @property
    def is_available(self) -> bool:
        return self.state == AVAILABLE


@dataclass(frozen=True)
class ModelStatus:
    """A model and the state of each of its versions, newest version first."""

    name: str
    versions: tuple[VersionStatus, ...]
    error: str = ""
    """Why the status could not be read (e.g. a ``--models`` name the server lacks)."""

    @property
    def available_versions(self) -> tuple[str, ...]:
        return tuple(v.version for v in self.versions if v.is_available)

    @property
    def latest_available(self) -> str | None:
        versions = self.available_versions
        return versions[0] if versions else None


@dataclass(frozen=True)
class TensorSpec:
    """A signature input or output: its alias, dtype (``DT_FLOAT``...) and shape.

    ``shape`` is ``None`` for unknown rank; ``-1`` marks an unknown dimension.
    """

    alias: str
    dtype: str
    shape: tuple[int, ...] | None
    tensor_name: str = ""

    @property
    def shape_text(self) -> str:
        if self.shape is None:
            return "unknown rank"
        return "[" + ", ".join(str(d) for d in self.shape) + "]"


@dataclass(frozen=True)
class SignatureSpec:
    """A SignatureDef: named inputs and outputs, sorted by alias."""

    name: str
    method_name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def output(self, alias: str) -> TensorSpec | None:
        return next((o for o in self.outputs if o.alias == alias), None)


def parse_version_statuses(body: Mapping[str, Any]) -> tuple[VersionStatus, ...]:
    """Parse ``{"model_version_status": [...]}``, newest version first."""
    entries = body.get("model_version_status", [])
    if not isinstance(entries, list):
        raise ValueError("model_version_status is not a list")
    statuses = []
    for entry in entries:
        status = entry.get("status") or {}
        statuses.append(
            VersionStatus(
                version=str(entry.get("version", "0")),
                state=str(entry.get("state", "UNKNOWN")),
                error_code=str(status.get("error_code", "OK")),
                error_message=str(status.get("error_message", "")),
            )
        )
    return tuple(sorted(statuses, key=_version_sort_key, reverse=True))


def parse_model_list(body: Mapping[str, Any]) -> tuple[ModelStatus, ...]:
    """Parse tensorserve's ``{"models": [{"name", "model_version_status"}]}``, sorted by name."""
    models = body.get("models", [])
    if not isinstance(models, list):
        raise ValueError("models is not a list")
    parsed = (
        ModelStatus(name=str(model["name"]), versions=parse_version_statuses(model))
        for model in models
    )
    return tuple(sorted(parsed, key=lambda m: m.name))


def parse_signatures(body: Mapping[str, Any]) -> tuple[SignatureSpec, ...]:
    """Parse a ``GetModelMetadata`` answer into its signatures, ``serving_default`` first."""
    signature_defs = body.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    if not isinstance(signature_defs, dict):
        raise ValueError("metadata.signature_def.signature_def is not an object")
    signatures = [
        SignatureSpec(
            name=name,
            method_name=str(definition.get("method_name", "")),
            inputs=_parse_tensor_map(definition.get("inputs", {})),
            outputs=_parse_tensor_map(definition.get("outputs", {})),
        )
        for name, definition in signature_defs.items()
    ]
    return tuple(sorted(signatures, key=lambda s: (s.name != DEFAULT_SIGNATURE, s.name)))


def choose_predict_signature(signatures: tuple[SignatureSpec, ...]) -> SignatureSpec | None:
    """``serving_default`` when present, else the first predict signature, else ``None``."""
    for signature in signatures:
        if signature.name == DEFAULT_SIGNATURE:
            return signature
    return next((s for s in signatures if s.method_name == PREDICT_METHOD), None)


def _parse_tensor_map(tensors: Mapping[str, Any]) -> tuple[TensorSpec, ...]:
    specs = []
    for alias, info in sorted(tensors.items()):
        shape_info = info.get("tensor_shape") or {}
        shape: tuple[int, ...] | None
        if shape_info.get("unknown_rank", False):
            shape = None
        else:
            shape = tuple(int(dim.get("size", -1)) for dim in shape_info.get("dim", []))
        specs.append(
            TensorSpec(
                alias=alias,
                dtype=str(info.get("dtype", "DT_INVALID")),
                shape=shape,
                tensor_name=str(info.get("name", "")),
            )
        )
    return tuple(specs)


def _version_sort_key(status: VersionStatus) -> tuple[int, str]:
    try:
        return (int(status.version), "")
    except ValueError:
        return (-1, status.version)
