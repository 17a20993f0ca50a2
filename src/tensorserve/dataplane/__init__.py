"""The protocol-neutral data plane: one request path for every transport."""

from tensorserve.dataplane.dataplane import (
    DataPlane,
    MissingSignature,
    RunsOnLoop,
    example_signature_not_found,
    signature_not_found,
)
from tensorserve.dataplane.inference import (
    ExampleInference,
    ExampleResult,
    Inference,
    InferenceResult,
    ModelDescription,
)
from tensorserve.dataplane.model_ref import ModelRef
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.dataplane.observer import NullObserver, RequestObserver
from tensorserve.dataplane.repository import ModelRepository, RepositoryEntry, StaticRepository
from tensorserve.dataplane.streaming import stream_inference
from tensorserve.dataplane.version_labels import VersionLabels

__all__ = [
    "DataPlane",
    "ExampleInference",
    "ExampleResult",
    "Inference",
    "InferenceResult",
    "MissingSignature",
    "ModelDescription",
    "ModelRef",
    "ModelRepository",
    "ModelSpec",
    "NullObserver",
    "RepositoryEntry",
    "RequestObserver",
    "RunsOnLoop",
    "StaticRepository",
    "VersionLabels",
    "example_signature_not_found",
    "signature_not_found",
    "stream_inference",
]
