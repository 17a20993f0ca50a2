"""``context.models``: a servable calling other served models in-process.

A call resolves the model through the manager exactly as a request does
(latest, a version, or a label), holds that version only for its own
duration (so hot swaps of a dependency lose nothing and never wait on a
composite), runs the target's signature with numpy arrays, and releases it.

The chain of Python servables running in this thread or task, and the
deadline of the request that started it, travel in context variables: a call
to a model already on the chain is refused as a cycle instead of
deadlocking, and a nested call gets only the time its caller has left.
Thread-safe.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from tensorserve.core.errors import DeadlineExceeded, InvalidArgument
from tensorserve.core.manager import Manager
from tensorserve.core.servable_id import ServableRequest
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.servables.signature import DEFAULT_SIGNATURE

MAX_DEPTH = 16
"""Nested composition calls allowed in one request."""

CALL_CHAIN: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "tensorserve_call_chain", default=()
)
"""Names of the Python servables running in this context, outermost first."""

DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "tensorserve_deadline", default=None
)
"""The ``time.monotonic()`` deadline of the request being served, if any."""

Resolve = Callable[[ModelSpec], ServableRequest]


def time_left(timeout_s: float | None = None) -> float | None:
    """Seconds left for a nested call: the smaller of ``timeout_s`` and the context's
    deadline; raises DeadlineExceeded when that has passed."""
    deadline = DEADLINE.get()
    left = None if deadline is None else deadline - time.monotonic()
    if timeout_s is not None:
        left = timeout_s if left is None else min(left, timeout_s)
    if left is not None and left <= 0:
        raise DeadlineExceeded("Deadline exceeded before calling the model")
    return left


def check_cycle(name: str) -> None:
    """Refuse a call to ``name`` from inside ``name`` (directly or through others)."""
    chain = CALL_CHAIN.get()
    if name in chain:
        path = " -> ".join((*chain, name))
        raise InvalidArgument(f"Cycle in model composition: {path}; a model cannot call itself")
    if len(chain) >= MAX_DEPTH:
        raise InvalidArgument(f"Model composition deeper than {MAX_DEPTH} calls: {name}")


class Models:
    """Calls served models by name; given to servables as ``context.models``."""

    def __init__(self, manager: Manager, resolve: Resolve) -> None:
        self._manager = manager
        self._resolve = resolve

    def predict(
        self,
        name: str,
        inputs: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        signature_name: str = DEFAULT_SIGNATURE,
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run ``name``'s signature on numpy ``inputs``; return its numpy outputs.

        Raises the target's errors (NOT_FOUND for an unknown model, INVALID_ARGUMENT
        for bad inputs or a cycle, DEADLINE_EXCEEDED past the caller's deadline).
        Blocks; from ``async def`` code use :meth:`apredict`.
        """
        check_cycle(name)
        left = time_left(timeout_s)
        if version is None and label is None:
            request = ServableRequest.latest(name)
        else:
            request = self._resolve(ModelSpec(name, version, label, signature_name))
        handle = self._manager.get_servable_handle(request)
        try:
            model = handle.servable
            _check_signature(model.signatures, signature_name)
            return model.predict(signature_name, dict(inputs), (), left)  # type: ignore[no-any-return]
        finally:
            handle.close()

    async def apredict(
        self,
        name: str,
        inputs: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        signature_name: str = DEFAULT_SIGNATURE,
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """:meth:`predict` for ``async def`` servables: runs in a worker thread."""
        return await asyncio.to_thread(
            self.predict, name, inputs, version, label, signature_name, timeout_s
        )

    def stream(
        self,
        name: str,
        inputs: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        signature_name: str = DEFAULT_SIGNATURE,
        timeout_s: float | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Iterate a streaming signature's chunks; the version is held until the
        iteration ends or the iterator is closed."""
        check_cycle(name)
        left = time_left(timeout_s)
        request = self._resolve(ModelSpec(name, version, label, signature_name))
        with self._manager.get_servable_handle(request) as handle:
            model = handle.servable
            _check_signature(model.signatures, signature_name)
            stream = getattr(model, "stream", None)
            if stream is None or not model.is_streaming(signature_name):
                raise InvalidArgument(
                    f"signature '{signature_name}' of model '{name}' does not stream; "
                    "call it with predict"
                )
            chunks = stream(signature_name, dict(inputs), left)
            try:
                yield from chunks
            finally:
                chunks.close()


def _check_signature(signatures: Mapping[str, object], name: str) -> None:
    if name not in signatures:
        raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')
