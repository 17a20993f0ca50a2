"""The protocol every servable model implements, whatever its platform.

The data plane computes only through this interface, so a batching servable,
a TensorFlow SavedModel and a test fake are interchangeable. Calls may block
(they run model code) and so are made from worker threads, not the event loop
(except quick calls of a ``compute_only`` model, below). Implementations must be
thread-safe.

A model may also have ``max_concurrent_calls(signature_name) -> int | None``: how many
predict calls of that signature are worth running at once (None: no limit). A runtime
that computes on the calling thread sets it to the cores it may use; the data plane
then runs no more at once, and the rest wait without holding a worker thread.

And ``compute_only(signature_name) -> bool``: True when that signature's predict calls
only compute, their time growing with their inputs (no I/O, no waiting on a lock or a
pool). The data plane then runs a call it predicts to be quicker than a hand-over to a
worker on the event loop itself (``dataplane/call_costs.py``). ONNX Runtime's models say
so; TensorFlow's do not (a graph may wait on a queue, and measured no faster), nor do
Python servables (user code may block).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from tensorserve.servables.signature import Signature


@dataclasses.dataclass(frozen=True, slots=True)
class Classifications:
    """Per-example class labels ``[batch, k]`` (bytes) and/or scores ``[batch, k]``."""

    classes: np.ndarray | None
    scores: np.ndarray | None


@runtime_checkable
class Model(Protocol):
    """A loaded model version that answers predict, classify and regress."""

    @property
    def signatures(self) -> Mapping[str, Signature]:
        """Signatures by name."""
        ...

    @property
    def platform(self) -> str:
        """The runtime that serves it, e.g. ``tensorflow`` for SavedModels."""
        ...

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run a predict signature on named input arrays; return named output arrays.

        Raises ``ServingError`` with TensorFlow Serving's code and message for
        unknown signatures, missing or extra inputs, bad output filters and
        runtime errors.
        """
        ...

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        """Run a classify signature on serialized ``tf.Example`` protos."""
        ...

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        """Run a regress signature on serialized ``tf.Example`` protos; one value each."""
        ...

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Classifications | np.ndarray]:
        """Run classify/regress tasks ``(signature_name, method_name)`` on the same
        examples in one call; results in task order."""
        ...


class ExampleApisOfInner:
    """For a model that wraps another (batching, ONNX twins) and adds nothing to the
    ``tf.Example`` APIs: Classify, Regress and MultiInference are ``inner``'s."""

    inner: Model

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        return self.inner.classify(signature_name, examples, timeout_s)

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        return self.inner.regress(signature_name, examples, timeout_s)

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Classifications | np.ndarray]:
        return self.inner.multi_inference(tasks, examples, timeout_s)
