"""Test doubles for the gRPC layer: a numpy half_plus_two model and a recording observer.

The fake model validates requests the way TF Serving's predict/classify code
does (same codes and messages), so the servicers can be tested end to end
without TensorFlow SavedModels or the real manager.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2

from tensorserve.core.errors import (
    Code,
    FailedPrecondition,
    InvalidArgument,
    ServingError,
)
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    Signature,
    TensorInfo,
)

FLOAT = DataType.DT_FLOAT
STRING = DataType.DT_STRING
EXAMPLES = TensorInfo("tf_example:0", STRING, (-1,))


def _signature(
    name: str, method: str, inputs: dict[str, TensorInfo], outputs: dict[str, TensorInfo]
) -> Signature:
    return Signature(name, method, inputs, outputs)


SIGNATURES: Mapping[str, Signature] = {
    s.name: s
    for s in [
        _signature(
            "serving_default",
            PREDICT_METHOD,
            {"x": TensorInfo("x:0", FLOAT, (-1, 1))},
            {"y": TensorInfo("y:0", FLOAT, (-1, 1))},
        ),
        _signature(
            "two_outputs",
            PREDICT_METHOD,
            {"x": TensorInfo("x:0", FLOAT, (-1, 1))},
            {"y": TensorInfo("y:0", FLOAT, (-1, 1)), "z": TensorInfo("z:0", FLOAT, (-1, 1))},
        ),
        # Returns its input unchanged: for dtype round trips over the wire.
        _signature(
            "identity",
            PREDICT_METHOD,
            {"t": TensorInfo("t:0", DataType.DT_INVALID)},
            {"t": TensorInfo("t:0", DataType.DT_INVALID)},
        ),
        # Raises ServingError(code, "e" * length): for code mapping and truncation.
        _signature(
            "raise",
            PREDICT_METHOD,
            {
                "code": TensorInfo("code:0", DataType.DT_INT32),
                "length": TensorInfo("length:0", DataType.DT_INT32),
            },
            {},
        ),
        _signature(
            "classify_x_to_y",
            CLASSIFY_METHOD,
            {"inputs": EXAMPLES},
            {"scores": TensorInfo("y:0", FLOAT, (-1, 1))},
        ),
        _signature(
            "classify_with_classes",
            CLASSIFY_METHOD,
            {"inputs": EXAMPLES},
            {
                "classes": TensorInfo("c:0", STRING, (-1, 2)),
                "scores": TensorInfo("s:0", FLOAT, (-1, 2)),
            },
        ),
        _signature(
            "regress_x_to_y",
            REGRESS_METHOD,
            {"inputs": EXAMPLES},
            {"outputs": TensorInfo("y:0", FLOAT, (-1, 1))},
        ),
        _signature(
            "regress_other_input",
            REGRESS_METHOD,
            {"inputs": TensorInfo("other:0", STRING, (-1,))},
            {"outputs": TensorInfo("y:0", FLOAT, (-1, 1))},
        ),
    ]
}


class HalfPlusTwo:
    """y = 0.5 * x + 2, with TF Serving's validation. Thread-safe."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.timeouts: list[float | None] = []
        self._lock = threading.Lock()

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return SIGNATURES

    @property
    def platform(self) -> str:
        return "fake"

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Any]:
        return [
            self.classify(name, examples, timeout_s)
            if method == CLASSIFY_METHOD
            else self.regress(name, examples, timeout_s)
            for name, method in tasks
        ]

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        with self._lock:
            self.timeouts.append(timeout_s)
        signature = SIGNATURES.get(signature_name)
        if signature is None or signature.method_name != PREDICT_METHOD:
            raise FailedPrecondition(f'Serving signature key "{signature_name}" not found.')
        _check_inputs(signature, inputs)
        aliases = _check_output_filter(signature, output_filter)
        if signature_name == "identity":
            return {"t": inputs["t"]}
        if signature_name == "raise":
            code = Code(int(inputs["code"]))
            raise ServingError("e" * int(inputs["length"]), code)
        x = inputs["x"]
        if x.dtype != np.float32:
            raise InvalidArgument(f"Expects arg[0] to be float but {x.dtype} is provided")
        outputs = {"y": x * 0.5 + 2, "z": x * 0.5 + 3}
        return {alias: outputs[alias] for alias in aliases}

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        self._inference_signature(signature_name, CLASSIFY_METHOD)
        y = _x_values(examples) * 0.5 + 2
        if signature_name == "classify_with_classes":
            classes = np.array([[b"low", b"high"]] * len(y), dtype=object)
            return Classifications(classes, np.stack([y, y + 1], axis=1))
        return Classifications(None, y.reshape(-1, 1))

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        self._inference_signature(signature_name, REGRESS_METHOD)
        return _x_values(examples) * 0.5 + 2

    def _inference_signature(self, name: str, method: str) -> Signature:
        signature = SIGNATURES.get(name)
        if signature is None:
            raise InvalidArgument(f"No signature was found with the name: {name}")
        if signature.method_name != method:
            raise InvalidArgument(f"Expected {method} signature method_name for {name}")
        return signature


def _check_inputs(signature: Signature, inputs: Mapping[str, np.ndarray]) -> None:
    sent, expected = set(inputs), set(signature.inputs)
    if len(sent) != len(expected) or sent != expected:
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
        )


def _check_output_filter(signature: Signature, output_filter: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen or list(signature.outputs)


def _x_values(examples: Sequence[bytes]) -> np.ndarray:
    values = []
    for serialized in examples:
        example = example_pb2.Example.FromString(serialized)
        values.append(example.features.feature["x"].float_list.value[0])
    return np.array(values, dtype=np.float32)


class RecordingObserver:
    """Keeps every ``request_finished`` call. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.finished: list[tuple[str, str, str, Code]] = []
        self.example_counts: list[tuple[str, int]] = []

    def inflight(self, model: str, delta: int) -> None:
        pass

    def request_finished(
        self, model: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None:
        assert seconds >= 0
        with self._lock:
            self.finished.append((model, api, entrypoint, code))

    def runtime(self, model: str, api: str, seconds: float) -> None:
        pass

    def examples(self, model: str, count: int) -> None:
        with self._lock:
            self.example_counts.append((model, count))
