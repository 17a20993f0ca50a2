"""Doubles for batching tests: a model that records its batches, and a gate."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorserve.core.errors import ServingError
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import Signature

WAIT_S = 10.0


class RecordingModel:
    """Answers ``y = x * 10`` (and every other input times 10) and records each call.

    Every call waits for ``gate`` (open by default), so a test can clear it to
    hold the batch slot busy while it queues more work; ``entered`` is set by
    the first call. ``error``: raised by every call while set.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, np.ndarray], tuple[str, ...]]] = []
        self.timeouts: list[float | None] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.error: ServingError | None = None
        self._lock = threading.Lock()

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return {}

    @property
    def batch_sizes(self) -> list[int]:
        with self._lock:
            return [next(iter(inputs.values())).shape[0] for _, inputs, _ in self.calls]

    @property
    def platform(self) -> str:
        return "recording"

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        with self._lock:
            self.calls.append((signature_name, dict(inputs), tuple(output_filter)))
            self.timeouts.append(timeout_s)
        self.entered.set()
        if not self.gate.wait(WAIT_S):
            raise TimeoutError("gate never opened")
        if self.error is not None:
            raise self.error
        outputs = {f"{name}_out": array * 10 for name, array in inputs.items()}
        if output_filter:
            outputs = {name: outputs[name] for name in output_filter}
        return outputs

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        return Classifications(classes=None, scores=np.full((len(examples), 1), 0.5))

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        return np.full((len(examples), 1), 2.0)

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Any]:
        return [("multi", name, method, len(examples)) for name, method in tasks]


class ThreadResults:
    """Runs calls in threads and keeps each one's result or exception."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.results: dict[int, Any] = {}
        self.errors: dict[int, BaseException] = {}

    def start(self, key: int, fn: Any, *args: Any, **kwargs: Any) -> None:
        def run() -> None:
            try:
                self.results[key] = fn(*args, **kwargs)
            except BaseException as exc:
                self.errors[key] = exc

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(WAIT_S)
            assert not thread.is_alive(), "a caller never returned"
