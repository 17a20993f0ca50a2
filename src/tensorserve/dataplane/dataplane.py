"""The one protocol-neutral request path shared by REST and gRPC.

Transports convert their wire format to numpy arrays and a :class:`ModelSpec`,
then call the data plane; it resolves labels and versions through the manager,
holds the version alive for the whole request (:class:`ModelRef`), and runs
model code on a bounded worker pool so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

import numpy as np

from tensorserve.core.errors import InvalidArgument, NotFound
from tensorserve.core.manager import Manager, ServableHandle
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ServableState, ServableStateMonitor
from tensorserve.dataplane.loop_handoff import loop_handoff
from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.dataplane.observer import NullObserver, RequestObserver
from tensorserve.dataplane.version_labels import VersionLabels
from tensorserve.servables.model import Classifications, Model
from tensorserve.servables.signature import Signature

T = TypeVar("T")


def submit(
    executor: Executor | ModelExecutor, fn: Callable[..., T], *args: Any
) -> asyncio.Future[T]:
    """Run ``fn`` on ``executor`` from the event loop."""
    if isinstance(executor, ModelExecutor):
        return executor.submit(fn, *args)
    return asyncio.get_running_loop().run_in_executor(executor, fn, *args)


class ModelRef:
    """One request's hold on one model version; closing releases it.

    Use as a context manager. Call the async methods from the event loop;
    they run the model on the data plane's worker pool.
    """

    __slots__ = ("_closed", "_executor", "_handle", "_job", "_observer", "id", "model")

    def __init__(
        self, handle: ServableHandle, executor: Executor | ModelExecutor, observer: RequestObserver
    ) -> None:
        self._handle = handle
        self._executor = executor
        self._observer = observer
        self._closed = False
        self._job: asyncio.Future[Any] | None = None
        self.id: ServableId = handle.id
        self.model: Model = handle.servable
        observer.inflight(self.id.name, 1)

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self.model.signatures

    async def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        submit = getattr(self.model, "submit_predict", None)
        if submit is not None:  # a batching servable: queue without a blocked thread
            return await self._queued(submit, signature_name, inputs, output_filter, timeout_s)
        return await self._run(
            "predict", self.model.predict, signature_name, inputs, output_filter, timeout_s
        )

    async def _queued(
        self,
        submit: Callable[..., None],
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str],
        timeout_s: float | None,
    ) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        job: asyncio.Future[dict[str, np.ndarray]] = loop.create_future()

        def settle(task: Any) -> None:
            if job.cancelled():
                return
            if task.error is not None:
                job.set_exception(task.error)
            else:
                job.set_result(task.outputs)

        handoff = loop_handoff(loop)

        def done(task: Any) -> None:  # on a batch thread; a batch's tasks share a wake-up
            handoff.call(settle, task)

        start = time.perf_counter()
        submit(signature_name, inputs, output_filter, timeout_s, done)
        self._job = job
        result = await asyncio.shield(job)
        self._observer.runtime(self.id.name, "predict", time.perf_counter() - start)
        return result

    async def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        return await self._run("classify", self.model.classify, signature_name, examples, timeout_s)

    async def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        return await self._run("regress", self.model.regress, signature_name, examples, timeout_s)

    async def _run(self, api: str, fn: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        # Shielded: if the caller is cancelled, the worker still runs to the end,
        # and close() keeps the version loaded until it has.
        self._job = submit(self._executor, fn, *args)
        result = await asyncio.shield(self._job)
        self._observer.runtime(self.id.name, api, time.perf_counter() - start)
        return result

    def close(self) -> None:
        """Release the version, at once or when a still-running model call ends."""
        if self._closed:
            return
        self._closed = True
        job = self._job
        if job is not None and not job.done():
            job.add_done_callback(lambda _job: self._release())
        else:
            self._release()

    def _release(self) -> None:
        self._observer.inflight(self.id.name, -1)
        self._handle.close()

    def __enter__(self) -> ModelRef:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DataPlane:
    """Resolves model specs to loaded versions and reports version states.

    Thread-safe: labels are an immutable table replaced whole.
    """

    def __init__(
        self,
        manager: Manager,
        states: ServableStateMonitor,
        executor: Executor | ModelExecutor,
        observer: RequestObserver | None = None,
    ) -> None:
        self._manager = manager
        self._states = states
        self._executor = executor
        self.observer: RequestObserver = observer or NullObserver()
        self._labels = VersionLabels()

    @property
    def version_labels(self) -> VersionLabels:
        return self._labels

    def set_version_labels(self, labels: VersionLabels) -> None:
        self._labels = labels

    def servable_request(self, spec: ModelSpec) -> ServableRequest:
        """The manager request for ``spec``; raises for an empty name or unknown label."""
        if not spec.name:
            raise InvalidArgument("ModelSpec has no name specified.")
        if spec.label is not None:
            return ServableRequest.specific(spec.name, self._labels.resolve(spec.name, spec.label))
        if spec.version is not None:
            return ServableRequest.specific(spec.name, spec.version)
        return ServableRequest.latest(spec.name)

    def acquire(self, spec: ModelSpec) -> ModelRef:
        """Hold the version ``spec`` names until the returned ref is closed.

        Raises ``ServableNotFound`` when no available version matches.
        """
        handle = self._manager.get_servable_handle(self.servable_request(spec))
        return ModelRef(handle, self._executor, self.observer)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the worker pool (for conversions too big for the loop)."""
        return await submit(self._executor, fn, *args)

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
