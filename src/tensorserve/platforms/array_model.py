"""A predict-only model over named arrays, for runtimes that are not TensorFlow.

ONNX Runtime and TensorFlow Lite compute a function of named arrays and know
nothing of TensorFlow Serving's request rules. :class:`ArrayModel` puts those
rules in front of any such runtime: the same validation texts as
``TensorFlowModel`` (``predict_util.cc``) for unknown signatures, missing or
extra inputs, dtype mismatches and bad output filters, so a client sees the
same errors whichever runtime serves the model. Imports no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from tensorserve.core import errors
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId
from tensorserve.servables.alias_names import join_sorted, resolve_output_aliases
from tensorserve.servables.dtypes import DataType, from_numpy
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import DEFAULT_SIGNATURE, Signature


class SignatureRunner(Protocol):
    """Runs one signature: input arrays by alias in, output arrays by alias out.

    Must be thread-safe; the model calls it from many worker threads at once.
    """

    def __call__(
        self, inputs: Mapping[str, np.ndarray], output_aliases: Sequence[str]
    ) -> dict[str, np.ndarray]: ...


def _dtype_of(array: np.ndarray) -> DataType | None:
    try:
        return from_numpy(array.dtype)
    except KeyError:
        return None


class ArrayModel:
    """Predict signatures served by per-signature runners, as a
    :class:`~tensorserve.servables.model.Model`. Thread-safe if the runners are.

    ``platform`` names the runtime (``onnx``, ``tflite``). Classify and regress
    are refused with InvalidArgument: these runtimes have no ``tf.Example`` parser.
    ``calls_at_once``: predict calls worth running at once (None: no limit), for a
    runtime that computes on the calling thread. ``compute_only``: the runners only
    compute, their time growing with the inputs (no I/O, no waiting on a shared pool),
    so a call predicted to be quick may run on the event loop (``dataplane/call_costs``).
    """

    def __init__(
        self,
        platform: str,
        signatures: Mapping[str, Signature],
        runners: Mapping[str, SignatureRunner],
        close: Sequence[object] = (),
        calls_at_once: int | None = None,
        compute_only: bool = False,
    ) -> None:
        self._platform = platform
        self._signatures = dict(signatures)
        self._runners = dict(runners)
        self._resources = list(close)
        self._calls_at_once = calls_at_once
        self._compute_only = compute_only

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    @property
    def platform(self) -> str:
        return self._platform

    def max_concurrent_calls(self, signature_name: str) -> int | None:
        return self._calls_at_once

    def compute_only(self, signature_name: str) -> bool:
        return self._compute_only

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Validate as TensorFlow Serving does, then run. ``timeout_s`` is not enforced:
        these runtimes cannot cancel a call once it started."""
        name = signature_name or DEFAULT_SIGNATURE
        signature = self._signatures.get(name)
        if signature is None:
            raise errors.FailedPrecondition(f'Serving signature key "{name}" not found.')
        feeds = self._checked_inputs(signature, inputs)
        aliases = resolve_output_aliases(signature.outputs, tuple(output_filter))
        return self._runners[name](feeds, aliases)

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        raise self._no_examples(signature_name, "classify")

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        raise self._no_examples(signature_name, "regress")

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Classifications | np.ndarray]:
        if not tasks:
            return []
        raise self._no_examples(tasks[0][0], "multi_inference")

    def close(self) -> None:
        """Drop the runtime's sessions. Call once no request is in flight."""
        self._runners.clear()
        self._resources.clear()

    def _no_examples(self, signature_name: str, method: str) -> errors.InvalidArgument:
        name = signature_name or DEFAULT_SIGNATURE
        return errors.InvalidArgument(
            f"{method} is not supported for signature {name}: the {self._platform} platform "
            "serves predict signatures only"
        )

    @staticmethod
    def _checked_inputs(
        signature: Signature, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        requested = set(inputs)
        expected = set(signature.inputs)
        if requested != expected:
            raise errors.InvalidArgument(
                f"input size does not match signature: {len(requested)}!="
                f"{len(expected)} len({{{join_sorted(requested)}}}) != "
                f"len({{{join_sorted(expected)}}}). "
                f"Sent extra: {{{join_sorted(requested - expected)}}}. "
                f"Missing but required: {{{join_sorted(expected - requested)}}}."
            )
        feeds: dict[str, np.ndarray] = {}
        for slot, alias in enumerate(sorted(expected)):
            value = np.asarray(inputs[alias])
            want = signature.inputs[alias].dtype
            actual = _dtype_of(value)
            if actual is not want:
                actual_name = actual.tf_name if actual is not None else str(value.dtype)
                raise errors.InvalidArgument(
                    f"Expects arg[{slot}] to be {want.tf_name} but {actual_name} is provided"
                )
            feeds[alias] = value
        return feeds


class ArrayModelLoader(Loader):
    """A loader whose ``load`` sets ``self._model`` to an :class:`ArrayModel` (ONNX
    Runtime, TFLite): unloading closes it, and ``servable`` is refused outside
    load..unload. The manager serialises ``load``/``unload``."""

    servable_id: ServableId
    _model: ArrayModel | None = None

    def unload(self) -> None:
        model, self._model = self._model, None
        if model is not None:
            model.close()

    def servable(self) -> ArrayModel:
        """The loaded model; raises FailedPrecondition outside load..unload."""
        if self._model is None:
            raise errors.FailedPrecondition(f"Servable {self.servable_id} is not loaded")
        return self._model
