"""A loaded Python servable as a data-plane :class:`~tensorserve.servables.model.Model`.

Every call into user code goes through here: inputs are checked against the
declared specs, the method runs with the request's context (its deadline and
the composition call chain), user exceptions become the API's errors
(``InvalidInput`` -> INVALID_ARGUMENT, anything else -> INTERNAL, with the
traceback only in the server log), and outputs are checked and cast.

Blocking (``def``) methods run in the caller's worker thread; ``async def``
methods run on the server's event loop (:meth:`PythonModel.predict_async`),
and a step that holds the loop longer than ``LOOP_BLOCK_WARN_S`` is logged.
``max_concurrency`` is a semaphore acquired within the caller's deadline, so a
wait ends in a slot or DEADLINE_EXCEEDED, never a silent hang; through the data
plane, blocking calls past it first wait in the version's lane of the worker pool
(``max_concurrent_calls``), holding no thread, and a caller that gives up there
takes its call back. Thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tensorserve.core.errors import (
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    ResourceExhausted,
    ServingError,
    Unimplemented,
)
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import Signature

from . import tensor_checks
from .api import InvalidInput, RequestContext, Servable, ServableSignature
from .loop_watch import timed_steps
from .model_caller import CALL_CHAIN, DEADLINE, Models

PLATFORM = "python"

SLOT_WAIT_S = 60.0
"""How long a call without a deadline waits for a ``max_concurrency`` slot."""

_PASSED_THROUGH = (
    ServingError,
    GeneratorExit,
    asyncio.CancelledError,
    StopIteration,
    StopAsyncIteration,
)
"""What user code may raise as it is: the API's own errors and control flow."""

logger = logging.getLogger(__name__)


class PythonModel:
    """One loaded servable version answering predict, stream, classify and regress."""

    def __init__(
        self,
        servable: Servable,
        declared: Mapping[str, ServableSignature],
        signatures: Mapping[str, Signature],
        *,
        name: str,
        version: int,
        models: Models,
    ) -> None:
        self.servable = servable
        self.name = name
        self.version = version
        self._models = models
        self._declared = dict(declared)
        self._signatures = dict(signatures)
        self._methods: dict[str, Callable[..., Any]] = {
            sig_name: getattr(servable, spec.method) for sig_name, spec in declared.items()
        }
        self._coroutines = frozenset(
            name for name, method in self._methods.items() if inspect.iscoroutinefunction(method)
        )
        cap = type(servable).max_concurrency
        self._slots = threading.BoundedSemaphore(cap) if cap else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.logger = logging.getLogger(f"tensorserve.servable.{name}")
        self._owner = f"servable '{name}' version {version}"

    # -- the Model protocol ---------------------------------------------------

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    @property
    def platform(self) -> str:
        return PLATFORM

    def is_streaming(self, signature_name: str) -> bool:
        spec = self._declared.get(signature_name)
        return spec is not None and spec.streaming

    def runs_on_loop(self, signature_name: str) -> bool:
        """Whether a unary call of this signature is an ``async def`` to await on the loop."""
        return signature_name in self._coroutines

    def max_concurrent_calls(self, signature_name: str) -> int | None:
        """``max_concurrency``, for the data plane's worker pool: calls past it wait in this
        version's lane instead of each holding a worker thread blocked on a slot, which
        with enough of them left no worker for any other model."""
        return type(self.servable).max_concurrency or None

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run a unary signature from a worker thread (an async one on the loop).

        The hot path of every call, composition hops included: written out rather
        than built from the context managers the other paths use.
        """
        signature, arrays, _ = self._prepare(signature_name, inputs, output_filter, False)
        deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)
        context = RequestContext(
            self.name, self.version, signature_name, self._models, self.logger, deadline
        )
        slots = self._slots
        if slots is not None:
            self._acquire(slots, deadline)
        chain = CALL_CHAIN.set((*CALL_CHAIN.get(), self.name))
        deadline_token = DEADLINE.set(deadline)
        try:
            if signature_name in self._coroutines:
                coroutine = self._methods[signature_name](arrays, context)
                result = self._run_coroutine(coroutine, deadline)
            else:
                result = self._methods[signature_name](arrays, context)
        except BaseException as exc:
            raise self._mapped(exc, signature_name) from None
        finally:
            DEADLINE.reset(deadline_token)
            CALL_CHAIN.reset(chain)
            if slots is not None:
                slots.release()
        return tensor_checks.check_outputs(self._owner, signature, result, output_filter)

    async def predict_async(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run an ``async def`` signature on the running loop. Call from the loop."""
        self._loop = asyncio.get_running_loop()
        signature, arrays, _ = self._prepare(signature_name, inputs, output_filter, False)
        deadline = _deadline(timeout_s)
        context = self._context(signature_name, deadline)
        async with self._async_slot(deadline):
            with self._user_code(signature_name, deadline):
                coroutine = self._methods[signature_name](arrays, context)
                result = await timed_steps(coroutine, self._blocked)
        return tensor_checks.check_outputs(self._owner, signature, result, output_filter)

    def stream(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        timeout_s: float | None = None,
    ) -> Generator[dict[str, np.ndarray], None, None]:
        """Iterate a streaming signature from a thread; closing it closes the user's generator."""
        signature, arrays, _ = self._prepare(signature_name, inputs, (), True)
        deadline = _deadline(timeout_s)
        produced = self._methods[signature_name](arrays, self._context(signature_name, deadline))
        steps = contextvars.copy_context()
        steps.run(_enter, self.name, deadline)
        with self._slot(deadline):
            if inspect.isasyncgen(produced):
                yield from self._sync_over_async(signature, produced, steps, deadline)
                return
            try:
                while True:
                    with self._user_code(signature_name, deadline):
                        try:
                            chunk = steps.run(next, produced)
                        except StopIteration:
                            return
                    yield tensor_checks.check_outputs(self._owner, signature, chunk)
            finally:
                with self._user_code(signature_name, deadline, quiet=True):
                    produced.close()

    async def astream(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        timeout_s: float | None,
        run_blocking: Callable[..., Any],
    ) -> AsyncIterator[dict[str, np.ndarray]]:
        """Iterate a streaming signature on the loop; ``run_blocking(fn, *args)`` advances a
        sync generator on a worker thread, one chunk at a time. Call from the loop."""
        self._loop = asyncio.get_running_loop()
        signature, arrays, _ = self._prepare(signature_name, inputs, (), True)
        deadline = _deadline(timeout_s)
        produced = self._methods[signature_name](arrays, self._context(signature_name, deadline))
        steps = contextvars.copy_context()
        steps.run(_enter, self.name, deadline)
        async with self._async_slot(deadline):
            if inspect.isasyncgen(produced):
                try:
                    while True:
                        with self._user_code(signature_name, deadline):
                            try:
                                chunk = await timed_steps(produced.__anext__(), self._blocked)
                            except StopAsyncIteration:
                                return
                        yield tensor_checks.check_outputs(self._owner, signature, chunk)
                finally:
                    with self._user_code(signature_name, deadline, quiet=True):
                        await produced.aclose()
            else:
                done = object()
                step: asyncio.Future[Any] | None = None
                try:
                    while True:
                        with self._user_code(signature_name, deadline):
                            step = asyncio.ensure_future(
                                run_blocking(steps.run, next, produced, done)
                            )
                            chunk = await asyncio.shield(step)
                        if chunk is done:
                            return
                        yield tensor_checks.check_outputs(self._owner, signature, chunk)
                finally:
                    if step is not None and not step.done():
                        await asyncio.wait([step])  # its thread finishes next() first
                    with self._user_code(signature_name, deadline, quiet=True):
                        await run_blocking(steps.run, produced.close)

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        """The servable's ``classify(examples, context)``: a dict with ``classes`` and/or
        ``scores``, each ``[batch, k]``."""
        result = self._example_call("classify", signature_name, examples, timeout_s)
        if not isinstance(result, Mapping) or not ({"classes", "scores"} & set(result)):
            raise Internal(f"{self._owner} classify must return a dict with classes and/or scores")
        classes = result.get("classes")
        scores = result.get("scores")
        return Classifications(
            None if classes is None else tensor_checks.as_bytes_array(np.asarray(classes)),
            None if scores is None else np.asarray(scores, dtype=np.float32),
        )

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        """The servable's ``regress(examples, context)``: one value per example."""
        result = self._example_call("regress", signature_name, examples, timeout_s)
        return np.asarray(result, dtype=np.float32).reshape(len(examples))

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Classifications | np.ndarray]:
        raise Unimplemented(f"{self._owner} does not support MultiInference")

    def close(self) -> None:
        """Run the servable's ``unload``; its exceptions are logged, never raised."""
        try:
            result = self.servable.unload()
            if inspect.isawaitable(result):
                asyncio.run(_awaited(result))
        except BaseException:
            logger.exception("%s raised in unload", self._owner)

    # -- internals ------------------------------------------------------------

    def _prepare(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str],
        streaming: bool,
    ) -> tuple[Signature, dict[str, np.ndarray], None]:
        signature = self._signatures.get(signature_name)
        if signature is None:
            raise InvalidArgument(
                f'Serving signature name: "{signature_name}" not found in signature def'
            )
        if self.is_streaming(signature_name) != streaming:
            if streaming:
                raise InvalidArgument(
                    f"signature '{signature_name}' of model '{self.name}' does not stream"
                )
            raise InvalidArgument(
                f"signature '{signature_name}' of model '{self.name}' is streaming; "
                "use ModelStreamInfer or /infer_stream"
            )
        arrays = tensor_checks.check_inputs(signature, inputs)
        tensor_checks.check_output_filter(signature, output_filter)
        return signature, arrays, None

    def _context(self, signature_name: str, deadline: float | None) -> RequestContext:
        return RequestContext(
            self.name, self.version, signature_name, self._models, self.logger, deadline
        )

    def _example_call(
        self,
        method_name: str,
        signature_name: str,
        examples: Sequence[bytes],
        timeout_s: float | None,
    ) -> Any:
        if signature_name not in self._signatures:
            raise InvalidArgument(f"No signature was found with the name: {signature_name}")
        method = getattr(self.servable, method_name, None)
        if method is None:
            raise Unimplemented(f"{self._owner} does not define {method_name}")
        deadline = _deadline(timeout_s)
        context = self._context(signature_name, deadline)
        with self._slot(deadline), self._user_code(signature_name, deadline):
            result = method(list(examples), context)
            if inspect.isawaitable(result):
                result = self._run_coroutine(result, deadline)
        return result

    @contextlib.contextmanager
    def _user_code(
        self, signature_name: str, deadline: float | None, *, quiet: bool = False
    ) -> Iterator[None]:
        """Run user code on the call chain; map what it raises to the API's errors."""
        token = CALL_CHAIN.set((*CALL_CHAIN.get(), self.name))
        deadline_token = DEADLINE.set(deadline)
        try:
            yield
        except (GeneratorExit, asyncio.CancelledError, StopIteration, StopAsyncIteration):
            raise
        except BaseException as exc:
            mapped = self._mapped(exc, signature_name)
            if not quiet:
                raise mapped from None
        finally:
            DEADLINE.reset(deadline_token)
            CALL_CHAIN.reset(token)

    def _mapped(self, exc: BaseException, signature_name: str) -> BaseException:
        """The API's error for what user code raised (logged with its traceback when
        it is a bug); control-flow exceptions come back as they are."""
        if isinstance(exc, InvalidInput):
            return InvalidArgument(str(exc))
        if isinstance(
            exc,
            ServingError
            | GeneratorExit
            | asyncio.CancelledError
            | StopIteration
            | StopAsyncIteration,
        ):
            return exc
        logger.error("%s raised in signature '%s'", self._owner, signature_name, exc_info=exc)
        return Internal(f"{self._owner} raised {type(exc).__name__}: {exc}")

    def _acquire(self, slots: threading.BoundedSemaphore, deadline: float | None) -> None:
        wait = SLOT_WAIT_S if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not slots.acquire(timeout=wait):
            raise self._no_slot(deadline)

    @contextlib.contextmanager
    def _slot(self, deadline: float | None) -> Iterator[None]:
        slots = self._slots
        if slots is None:
            yield
            return
        self._acquire(slots, deadline)
        try:
            yield
        finally:
            slots.release()

    @contextlib.asynccontextmanager
    async def _async_slot(self, deadline: float | None) -> AsyncIterator[None]:
        slots = self._slots
        if slots is None:
            yield
            return
        if not slots.acquire(blocking=False):
            wait = SLOT_WAIT_S if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not await asyncio.to_thread(slots.acquire, True, wait):
                raise self._no_slot(deadline)
        try:
            yield
        finally:
            slots.release()

    def _no_slot(self, deadline: float | None) -> ServingError:
        if deadline is not None:
            return DeadlineExceeded(f"Deadline exceeded waiting for {self._owner}")
        return ResourceExhausted(f"{self._owner} is at its max_concurrency")

    def _run_coroutine(self, coroutine: Any, deadline: float | None) -> Any:
        """Await ``coroutine`` from a worker thread: on the server loop when there is one."""
        loop = self._loop
        if loop is None or loop.is_closed() or _on_loop(loop):
            return asyncio.run(_awaited(coroutine))
        future = asyncio.run_coroutine_threadsafe(
            _awaited(timed_steps(coroutine, self._blocked)), loop
        )
        wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            return future.result(wait)
        except TimeoutError:
            future.cancel()
            raise DeadlineExceeded(f"Deadline exceeded in {self._owner}") from None

    def _sync_over_async(
        self,
        signature: Signature,
        produced: Any,
        steps: contextvars.Context,
        deadline: float | None,
    ) -> Iterator[dict[str, np.ndarray]]:
        loop = asyncio.new_event_loop()
        try:
            while True:
                with self._user_code(signature.name, deadline):
                    try:
                        chunk = steps.run(loop.run_until_complete, produced.__anext__())
                    except StopAsyncIteration:
                        return
                yield tensor_checks.check_outputs(self._owner, signature, chunk)
        finally:
            with self._user_code(signature.name, deadline, quiet=True):
                loop.run_until_complete(produced.aclose())
            loop.close()

    def _blocked(self, seconds: float) -> None:
        logger.warning(
            "%s blocked the event loop for %.0f ms in one step of an async method; "
            "make it a plain def (it then runs on a worker thread) or await its slow work",
            self._owner,
            seconds * 1000,
        )


def _enter(name: str, deadline: float | None) -> None:
    CALL_CHAIN.set((*CALL_CHAIN.get(), name))
    DEADLINE.set(deadline)


def _deadline(timeout_s: float | None) -> float | None:
    return None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
