"""Validation of a ``MultiInferenceRequest``'s tasks, in TF Serving's order and words.

Follows ``servables/tensorflow/multi_inference.cc``: every task names the same
model, each signature appears once and exists, each method is classify or
regress, and every signature reads the same input tensor. Stateless; thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from tensorserve.core.errors import InvalidArgument, Unimplemented
from tensorserve.protos.tfserving import inference_pb2
from tensorserve.servables.signature import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    REGRESS_METHOD,
    Signature,
)


@dataclasses.dataclass(frozen=True, slots=True)
class InferenceTask:
    """One validated task: which signature to run, and whether to classify or regress."""

    model_name: str
    signature_name: str
    method_name: str


def plan_tasks(
    tasks: Iterable[inference_pb2.InferenceTask], signatures: Mapping[str, Signature]
) -> list[InferenceTask]:
    """The tasks to run in request order; raises the first error TF Serving would."""
    model_name = ""
    input_tensor = ""
    seen: set[str] = set()
    plan = []
    for task in tasks:
        spec = task.model_spec
        if not spec.name:
            raise InvalidArgument("Found ModelSpec with an empty model name.")
        if not model_name:
            model_name = spec.name
        elif model_name != spec.name:
            raise InvalidArgument(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        signature_name = spec.signature_name or DEFAULT_SIGNATURE
        if signature_name in seen:
            raise InvalidArgument(f"Duplicate evaluation of signature: {signature_name}")
        seen.add(signature_name)
        signature = signatures.get(signature_name)
        if signature is None:
            raise InvalidArgument(f"Requested signature not found in model graph: {signature_name}")
        if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise Unimplemented(f"Unsupported signature method_name: {task.method_name}")
        # A signature with other than one input fails later, in the model, with
        # TF Serving's "Expected one input Tensor." message.
        if len(signature.inputs) == 1:
            tensor_name = next(iter(signature.inputs.values())).name
            if not input_tensor:
                input_tensor = tensor_name
            elif input_tensor != tensor_name:
                raise InvalidArgument("Input tensor must be the same for all Signatures.")
        plan.append(InferenceTask(spec.name, signature_name, task.method_name))
    return plan
