"""The calls a transport hands the data plane, and what the data plane hands back.

A codec parses its envelope into one of these values; the data plane runs the
request lifecycle on it (acquire, signature, decode, deadline, observe,
release) and returns the result with the version that answered. Immutable.
The per-request values are named tuples: one is made per request, and a frozen
dataclass costs several times as much to build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, NamedTuple, TypeVar

import numpy as np

from tensorserve.core.servable_id import ServableId
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.servables.signature import Signature

T = TypeVar("T")

Decode = Callable[[Signature], Mapping[str, np.ndarray]]
"""Builds the model inputs once the signature is known; raises ServingError for bad input."""


class Inference(NamedTuple):
    """One predict call, as a transport hands it to the data plane.

    ``decode`` runs inline when ``size_hint`` (the payload's bytes) is at most the
    data plane's offload threshold, on the worker pool above it. ``timeout_s`` is
    the client's deadline: passed to the model run, and the request fails with
    DEADLINE_EXCEEDED once it passes by more than the data plane's grace period.
    ``protocol`` and ``api`` label the request in metrics (``protocol`` is TF
    Serving's ``entrypoint`` label: ``REST``, ``GRPC``, ``V2_REST``, ``V2_GRPC``).
    ``started`` (``time.perf_counter()``) is when the codec took the request;
    None means when the data plane did.
    """

    spec: ModelSpec
    decode: Decode
    size_hint: int
    output_filter: Sequence[str] = ()
    timeout_s: float | None = None
    protocol: str = "REST"
    api: str = "predict"
    started: float | None = None


class InferenceResult(NamedTuple):
    """A predict answer: the outputs, and which version and signature gave them."""

    outputs: dict[str, np.ndarray]
    id: ServableId
    signature_name: str
    signature: Signature


class ExampleInference(NamedTuple):
    """One classify, regress or multi-inference call on serialized ``tf.Example`` protos.

    Fields as :class:`Inference`; the examples are already decoded by the codec.
    """

    spec: ModelSpec
    examples: Sequence[bytes]
    timeout_s: float | None = None
    protocol: str = "REST"
    api: str = "classify"
    started: float | None = None


class ExampleResult(NamedTuple, Generic[T]):
    """A classify/regress/multi-inference answer and the version that gave it."""

    result: T
    id: ServableId
    signature_name: str


@dataclasses.dataclass(frozen=True, slots=True)
class ModelDescription:
    """What a loaded version computes, free of any protocol's types.

    ``platform`` names the runtime (``tensorflow`` for SavedModels).
    """

    id: ServableId
    signatures: Mapping[str, Signature]
    platform: str
