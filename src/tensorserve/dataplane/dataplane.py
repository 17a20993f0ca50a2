"""The one protocol-neutral request path shared by every transport.

A codec parses its envelope into an :class:`Inference` (or
:class:`ExampleInference`) and awaits the data plane, which owns the whole
request lifecycle: acquire and hold the version the spec names, resolve the
signature, decode the inputs (inline when small, on the worker pool above one
threshold), run the model under the client's deadline, report the request to
the observer, and release the version. It returns the outputs with the version
that answered, or raises a ``ServingError`` the codec renders in its format.

Call the async methods from the event loop. :meth:`DataPlane.predict_blocking` is
the same lifecycle for a transport that serves from its own thread pool (the
threaded gRPC server): it runs on the calling thread, with no hop to the loop or
the worker pool, which for a model that answers in microseconds is most of the
cost of a request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

import numpy as np

from tensorserve.core.errors import (
    Code,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    ServingError,
    as_serving_error,
)
from tensorserve.core.manager import Manager
from tensorserve.core.servable_id import ServableRequest
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane.call_costs import CallCosts
from tensorserve.dataplane.inference import (
    ExampleInference,
    ExampleResult,
    Inference,
    InferenceResult,
    ModelDescription,
)
from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.dataplane.model_ref import DEADLINE_MESSAGE, ModelRef, submit
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.dataplane.observer import (
    NullObserver,
    RequestObserver,
    RequestOutcome,
    Uncounted,
)
from tensorserve.dataplane.repository import ModelRepository, StaticRepository
from tensorserve.dataplane.version_labels import VersionLabels
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import Signature

T = TypeVar("T")

MissingSignature = Callable[[str], ServingError]
"""A transport's error for a signature name the model does not have."""

OFFLOAD_BYTES = 64 * 1024
"""Payloads above this are converted on the worker pool; below it a thread hop costs
more than the conversion."""

DEADLINE_GRACE_S = 1.0
"""A model run that overruns the client's deadline by this much is answered
DEADLINE_EXCEEDED anyway (the model normally enforces the deadline itself)."""


class StaleSignature(ServingError, Uncounted):
    """A transport worker decoded for signatures the held version no longer has (a
    swap came between); raised by its decode to ask it to decode again. Not counted:
    the retry is the request."""

    code = Code.UNAVAILABLE


class RunsOnLoop(Exception, Uncounted):
    """:meth:`DataPlane.predict_blocking` cannot answer: the signature is awaited on
    the event loop; await :meth:`DataPlane.predict` there instead."""


def signature_not_found(name: str) -> ServingError:
    """TensorFlow Serving REST's error for an unknown predict signature (the default)."""
    return InvalidArgument(f'Serving signature name: "{name}" not found in signature def')


def example_signature_not_found(name: str) -> ServingError:
    """TensorFlow Serving's error for an unknown classify/regress signature."""
    return InvalidArgument(f"No signature was found with the name: {name}")


class DataPlane:
    """Runs requests on loaded versions and reports version states.

    Thread-safe for reads; labels are an immutable table replaced whole.
    ``offload_bytes`` is the one threshold above which conversions leave the
    event loop; ``deadline_grace_s`` is how far past its deadline a model run
    may go before the request is answered DEADLINE_EXCEEDED.
    """

    def __init__(
        self,
        manager: Manager,
        states: ServableStateMonitor,
        executor: Executor | ModelExecutor,
        observer: RequestObserver | None = None,
        *,
        repository: ModelRepository | None = None,
        offload_bytes: int = OFFLOAD_BYTES,
        deadline_grace_s: float = DEADLINE_GRACE_S,
    ) -> None:
        self._manager = manager
        self._states = states
        self._executor = executor
        self._costs = CallCosts()
        self.observer: RequestObserver = observer or NullObserver()
        self.repository: ModelRepository = repository or StaticRepository(states)
        self.offload_bytes = offload_bytes
        self.deadline_grace_s = deadline_grace_s
        self._labels = VersionLabels()

    # -- the request path -------------------------------------------------------

    async def predict(
        self, call: Inference, *, missing_signature: MissingSignature | None = None
    ) -> InferenceResult:
        """Run ``call`` on the version its spec names; see the module docstring.

        ``missing_signature`` makes the transport's own error for an unknown
        signature (default: TensorFlow Serving REST's).
        """
        with self.outcome(call), self.acquire(call.spec, self._backstop(call.timeout_s)) as ref:
            name = call.spec.signature
            signature = ref.signatures.get(name)
            if signature is None:
                raise (missing_signature or signature_not_found)(name)
            if call.size_hint > self.offload_bytes:
                inputs = await submit(self._executor, call.decode, signature)
            else:  # inline: a thread hop would cost more than the conversion
                inputs = call.decode(signature)
            outputs = await ref.predict(name, inputs, call.output_filter, call.timeout_s)
            return InferenceResult(outputs, ref.id, name, signature)

    def predict_blocking(
        self, call: Inference, *, missing_signature: MissingSignature | None = None
    ) -> InferenceResult:
        """:meth:`predict` on the calling thread, which must not be the event loop's.

        Decoding and the model call run here whatever their size (this thread is
        already off the loop). A run that ends more than the grace period after the
        client's deadline is answered DEADLINE_EXCEEDED, as :meth:`predict` answers
        it; the version is held until the model call returns. Raises
        :class:`RunsOnLoop`, having counted nothing, when the signature must be awaited
        on the event loop (an ``async def`` Python servable). Thread-safe.
        """
        started = time.perf_counter() if call.started is None else call.started
        with self.outcome(call, started):
            with self.acquire(call.spec) as ref:
                name = call.spec.signature
                if ref.runs_on_loop(name):
                    raise RunsOnLoop(name)  # uncounted: the caller awaits predict instead
                signature = ref.signatures.get(name)
                if signature is None:
                    raise (missing_signature or signature_not_found)(name)
                inputs = call.decode(signature)
                outputs = ref.predict_here(name, inputs, call.output_filter, call.timeout_s)
            backstop_s = self._backstop(call.timeout_s)
            if backstop_s is not None and time.perf_counter() - started > backstop_s:
                raise DeadlineExceeded(DEADLINE_MESSAGE)
            return InferenceResult(outputs, ref.id, name, signature)

    async def classify(
        self, call: ExampleInference, *, missing_signature: MissingSignature | None = None
    ) -> ExampleResult[Classifications]:
        """Classify ``call.examples`` with the spec's signature (TF Serving's checks)."""
        return await self._on_examples(call, ModelRef.classify, missing_signature)

    async def regress(
        self, call: ExampleInference, *, missing_signature: MissingSignature | None = None
    ) -> ExampleResult[np.ndarray]:
        """Regress ``call.examples`` with the spec's signature (TF Serving's checks)."""
        return await self._on_examples(call, ModelRef.regress, missing_signature)

    async def multi_inference(
        self,
        call: ExampleInference,
        plan: Callable[[Mapping[str, Signature]], Sequence[tuple[str, str]]],
    ) -> ExampleResult[list[Classifications | np.ndarray]]:
        """Run several classify/regress tasks on the same examples in one model call.

        ``plan`` validates the request's tasks against the held version's
        signatures and returns them as ``(signature_name, method_name)``. Not
        counted in request metrics, as in TensorFlow Serving.
        """
        with self.acquire(call.spec, self._backstop(call.timeout_s)) as ref:
            tasks = plan(ref.signatures)
            if not call.examples:
                raise InvalidArgument("Input is empty.")
            self.observer.examples(call.spec.name, len(call.examples))
            results = await ref.multi_inference(tasks, call.examples, call.timeout_s)
            return ExampleResult(results, ref.id, call.spec.signature)

    def stream(
        self, call: Inference, *, missing_signature: MissingSignature | None = None
    ) -> AsyncGenerator[InferenceResult, None]:
        """Run ``call`` as a stream (:func:`~tensorserve.dataplane.stream_inference`):
        one result per chunk of a streaming signature, one in all for any other."""
        from tensorserve.dataplane.streaming import stream_inference

        return stream_inference(self, call, missing_signature=missing_signature)

    async def describe(self, spec: ModelSpec) -> ModelDescription:
        """The signatures and platform of the version ``spec`` names (held while read)."""
        with self.acquire(spec) as ref:
            return ModelDescription(ref.id, ref.signatures, ref.model.platform)

    async def convert(self, size_bytes: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``: inline for payloads up to ``offload_bytes``, else on the pool.

        For codecs' own parsing and rendering, so every transport offloads alike.
        """
        if size_bytes > self.offload_bytes:
            return await submit(self._executor, fn, *args)
        return fn(*args)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the worker pool, whatever its size."""
        return await submit(self._executor, fn, *args)

    def observe(
        self, model: str, api: str, protocol: str, error: BaseException | None, started: float
    ) -> None:
        """Count a request answered without a model call: one a codec refused before
        building its call, or a status/metadata read (``error`` None = OK)."""
        code = Code.OK if error is None else as_serving_error(error).code
        self.observer.request_finished(model, api, protocol, code, time.perf_counter() - started)

    def outcome(
        self, call: Inference | ExampleInference, started: float | None = None
    ) -> RequestOutcome:
        """Counts ``call`` once when the block around it ends (see RequestOutcome);
        ``started`` defaults to the call's own start, else now."""
        return RequestOutcome(
            self.observer,
            call.spec.name,
            call.api,
            call.protocol,
            call.started if started is None else started,
        )

    def acquire(self, spec: ModelSpec, backstop_s: float | None = None) -> ModelRef:
        """Hold the version ``spec`` names until the returned ref is closed; its model
        calls fail DEADLINE_EXCEEDED after ``backstop_s`` seconds.

        Raises ``ServableNotFound`` when no available version matches.
        """
        handle = self._manager.get_servable_handle(self.servable_request(spec))
        return ModelRef(handle, self._executor, self.observer, backstop_s, self._costs)

    def servable_request(self, spec: ModelSpec) -> ServableRequest:
        """The manager request for ``spec``; raises for an empty name or unknown label."""
        if not spec.name:
            raise InvalidArgument("ModelSpec has no name specified.")
        if spec.label is not None:
            return ServableRequest.specific(spec.name, self._labels.resolve(spec.name, spec.label))
        if spec.version is not None:
            return ServableRequest.specific(spec.name, spec.version)
        return ServableRequest.latest(spec.name)

    async def _on_examples(
        self,
        call: ExampleInference,
        run: Callable[[ModelRef, str, Sequence[bytes], float | None], Awaitable[T]],
        missing_signature: MissingSignature | None,
    ) -> ExampleResult[T]:
        with self.outcome(call), self.acquire(call.spec, self._backstop(call.timeout_s)) as ref:
            name = call.spec.signature
            # TF Serving's order: the signature, then the input.
            if name not in ref.signatures:
                raise (missing_signature or example_signature_not_found)(name)
            if not call.examples:
                raise InvalidArgument("Input is empty.")
            self.observer.examples(call.spec.name, len(call.examples))
            result = await run(ref, name, call.examples, call.timeout_s)
            return ExampleResult(result, ref.id, name)

    def _backstop(self, timeout_s: float | None) -> float | None:
        """Seconds after which a model run fails DEADLINE_EXCEEDED: the client's
        deadline plus the grace period (the model normally enforces the deadline)."""
        return None if timeout_s is None else max(timeout_s, 0.0) + self.deadline_grace_s

    # -- version labels and states ------------------------------------------------

    @property
    def version_labels(self) -> VersionLabels:
        return self._labels

    def set_version_labels(self, labels: VersionLabels) -> None:
        self._labels = labels

    def model_ready(self, name: str, version: int | None = None) -> bool:
        """Whether ``version`` (any version when None) of ``name`` is AVAILABLE."""
        versions = self._states.versions(name)
        if version is not None:
            state = versions.get(version)
            return state is not None and state.state is ManagerState.AVAILABLE
        return any(s.state is ManagerState.AVAILABLE for s in versions.values())

    def server_ready(self) -> bool:
        """Whether every served model has an AVAILABLE version."""
        return self.repository.readiness()[0]

    def model_status(self, name: str, version: int | None = None) -> list[ServableState]:
        """Version states as GetModelStatus reports them, newest version first."""
        versions = self._states.versions(name)
        if version is not None:
            state = versions.get(version)
            if state is None:
                raise NotFound(f"Could not find version {version} of model {name}")
            return [state]
        if not versions:
            raise NotFound(f"Could not find any versions of model {name}")
        return [versions[v] for v in sorted(versions, reverse=True)]

    def all_model_status(self) -> dict[str, list[ServableState]]:
        """Every model the server has seen, with its version states (our addition)."""
        return {
            name: self.model_status(name)
            for name in self._states.names()
            if self._states.versions(name)
        }
