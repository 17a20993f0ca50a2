"""One request's hold on one model version, and the model calls made through it.

A :class:`ModelRef` keeps its version loaded until it is closed *and* the model
call it started has ended, so a version is never unloaded under a running
model even when the request gives up first (deadline, client gone). Model code
runs on the data plane's worker pool (or a batching servable's queue), not on
the event loop, with one exception: a predict call of a model that says it only
computes (``compute_only``) and that :class:`CallCosts` predicts to take less
than a hand-over to a worker runs in place. A ref made with ``backstop_s`` fails
its model calls with DEADLINE_EXCEEDED that many seconds after they start (one
loop timer each: half the cost of ``asyncio.timeout``), while the call itself
runs on.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

import numpy as np

from tensorserve.core.errors import DeadlineExceeded
from tensorserve.core.manager import ServableHandle
from tensorserve.core.servable_id import ServableId
from tensorserve.dataplane.call_costs import CallCosts, input_bytes
from tensorserve.dataplane.loop_handoff import loop_handoff
from tensorserve.dataplane.model_executor import Lane, ModelExecutor, Timed
from tensorserve.dataplane.observer import RequestObserver
from tensorserve.servables.model import Classifications, Model
from tensorserve.servables.signature import Signature

T = TypeVar("T")

DEADLINE_MESSAGE = "Timed out waiting for notification"


def submit(
    executor: Executor | ModelExecutor,
    fn: Callable[..., T],
    *args: Any,
    lane: Lane | None = None,
    timed: Timed | None = None,
) -> asyncio.Future[T]:
    """Run ``fn`` on ``executor`` from the event loop (``lane``, ``timed``: see
    :meth:`ModelExecutor.submit`; a plain ``Executor`` has neither)."""
    if isinstance(executor, ModelExecutor):
        return executor.submit(fn, *args, lane=lane, timed=timed)
    return asyncio.get_running_loop().run_in_executor(executor, fn, *args)


class ModelRef:
    """One request's hold on one model version; closing releases it.

    Use as a context manager. Call the async methods from the event loop;
    they run the model on the data plane's worker pool (a quick call of a
    ``compute_only`` model: in place).
    """

    __slots__ = (
        "_backstop_s",
        "_closed",
        "_costs",
        "_executor",
        "_handle",
        "_job",
        "_observer",
        "id",
        "model",
    )

    def __init__(
        self,
        handle: ServableHandle,
        executor: Executor | ModelExecutor,
        observer: RequestObserver,
        backstop_s: float | None = None,
        costs: CallCosts | None = None,
    ) -> None:
        self._handle = handle
        self._costs = costs
        self._backstop_s = backstop_s
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

    def runs_on_loop(self, signature_name: str) -> bool:
        """Whether this signature is awaited on the event loop (an ``async def``
        Python servable), so :meth:`predict_here` cannot run it."""
        on_loop = getattr(self.model, "runs_on_loop", None)
        return on_loop is not None and bool(on_loop(signature_name))

    async def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        if self.runs_on_loop(signature_name):  # an async def Python servable
            run = self.model.predict_async(signature_name, inputs, output_filter, timeout_s)  # type: ignore[attr-defined]
            return await self._awaited("predict", run)
        submit = getattr(self.model, "submit_predict", None)
        if submit is not None:  # a batching servable: queue without a blocked thread
            return await self._queued(submit, signature_name, inputs, output_filter, timeout_s)
        timed = None
        costs = self._costs
        if costs is not None and self._compute_only(signature_name):
            size = input_bytes(inputs)
            if size is not None:
                # By name and version, not id(model): a version loaded after another was
                # unloaded may get the same id, not the same costs.
                key = (self.id.name, self.id.version, signature_name)
                if costs.quick(key, size):
                    return self._in_place(
                        costs, key, size, signature_name, inputs, output_filter, timeout_s
                    )
                timed = functools.partial(costs.observe, key, size)
        return await self._run(
            "predict",
            self.model.predict,
            signature_name,
            inputs,
            output_filter,
            timeout_s,
            lane=self._lane(signature_name),
            timed=timed,
        )

    def _compute_only(self, signature_name: str) -> bool:
        """Whether the model says this signature's calls only compute (``compute_only``)."""
        compute_only = getattr(self.model, "compute_only", None)
        return compute_only is not None and bool(compute_only(signature_name))

    def _in_place(
        self,
        costs: CallCosts,
        key: tuple[str, int, str],
        size: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str],
        timeout_s: float | None,
    ) -> dict[str, np.ndarray]:
        """Run a call predicted to be quicker than a hand-over here, on the event loop."""
        start = time.perf_counter()
        outputs = self.predict_here(signature_name, inputs, output_filter, timeout_s)
        costs.observe(key, size, time.perf_counter() - start)
        return outputs

    def _lane(self, signature_name: str) -> Lane | None:
        """This model's lane for calls of ``signature_name``, when the model limits
        how many are worth running at once (``max_concurrent_calls``)."""
        limit_of = getattr(self.model, "max_concurrent_calls", None)
        limit = limit_of(signature_name) if limit_of is not None else None
        return (id(self.model), limit) if limit is not None and limit >= 1 else None

    def predict_here(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run predict on the calling thread: a plain model runs here, a batching
        servable blocks here until its batch ran. Not on the event loop's thread (except
        for a quick call of a ``compute_only`` model), and not for a signature that
        :meth:`runs_on_loop`. Thread-safe."""
        start = time.perf_counter()
        outputs = self.model.predict(signature_name, inputs, output_filter, timeout_s)
        self._observer.runtime(self.id.name, "predict", time.perf_counter() - start)
        return outputs

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
        result = await self._outcome(job)
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

    async def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Classifications | np.ndarray]:
        return await self._run(
            "multi_inference", self.model.multi_inference, tasks, examples, timeout_s
        )

    async def _run(
        self,
        api: str,
        fn: Callable[..., T],
        *args: Any,
        lane: Lane | None = None,
        timed: Timed | None = None,
    ) -> T:
        start = time.perf_counter()
        self._job = job = submit(self._executor, fn, *args, lane=lane, timed=timed)
        result = await self._outcome(job)
        self._observer.runtime(self.id.name, api, time.perf_counter() - start)
        return result

    async def _outcome(self, job: asyncio.Future[T]) -> T:
        """``job``'s result, awaited through a waiter: if the caller is cancelled or the
        backstop fires, the job still runs to the end, and close() keeps the version
        loaded until it has."""
        loop = job.get_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        job.add_done_callback(functools.partial(_copy_outcome, waiter))
        if self._backstop_s is None:
            return await waiter
        timer = loop.call_later(self._backstop_s, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    async def _awaited(self, api: str, run: Awaitable[T]) -> T:
        start = time.perf_counter()
        self._job = job = asyncio.ensure_future(run)  # held like a worker call
        result: T = await self._outcome(job)
        self._observer.runtime(self.id.name, api, time.perf_counter() - start)
        return result

    def close(self) -> None:
        """Release the version, at once or when a still-running model call ends."""
        if self._closed:
            return
        self._closed = True
        job = self._job
        if job is not None and not job.done() and not self._withdrawn(job):
            job.add_done_callback(lambda _job: self._release())
        else:
            self._release()

    def _withdrawn(self, job: asyncio.Future[Any]) -> bool:
        """Whether ``job``, a call the caller no longer waits for, was taken back before
        it started (so it never runs, and the version is free at once)."""
        return isinstance(self._executor, ModelExecutor) and self._executor.withdraw(job)

    def _release(self) -> None:
        self._observer.inflight(self.id.name, -1)
        self._handle.close()

    def __enter__(self) -> ModelRef:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy_outcome(waiter: asyncio.Future[Any], job: asyncio.Future[Any]) -> None:
    if waiter.done():  # the caller gave up (deadline, cancellation)
        if not job.cancelled():
            job.exception()  # retrieved, so asyncio does not log it
        return
    if job.cancelled():
        waiter.cancel()
    elif (error := job.exception()) is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(job.result())


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(DeadlineExceeded(DEADLINE_MESSAGE))
