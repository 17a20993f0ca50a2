"""A transport worker's data plane: the codecs' own interface, answered by the model process.

The worker's transports are the model process's, unchanged; they hold this
:class:`ForwardingDataPlane` where the model process's hold its ``DataPlane``.
It decodes each request here, in the worker (that is the work spread across
cores), with the signatures the model process described for the spec, cached,
and forwards the arrays with the servable id they were decoded for. When a swap
made another version current since, the model process answers "stale" and the
request is described and decoded again. Everything else that needs the manager
or a model is forwarded as is; the synchronous reads (model status, readiness,
labels) come from the model process's last pushed :class:`StateSnapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tensorserve.core import errors
from tensorserve.core.errors import (
    Cancelled,
    Code,
    ServingError,
    Unavailable,
)
from tensorserve.core.servable_state import ServableStateMonitor
from tensorserve.dataplane import (
    DataPlane,
    ExampleInference,
    ExampleResult,
    Inference,
    InferenceResult,
    ModelDescription,
    ModelSpec,
    VersionLabels,
)
from tensorserve.dataplane.dataplane import MissingSignature, RunsOnLoop, signature_not_found
from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.dataplane.observer import outcome_code
from tensorserve.dataplane.repository import RepositoryEntry
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import Signature
from tensorserve.workers.channel import Encoder, MessageStream, read_message_blocking
from tensorserve.workers.model_endpoint import (
    CALL,
    CALLS_ONLY,
    CAST,
    DRAIN,
    ERROR,
    HELLO,
    ITEM,
    OK,
    READY,
    STALE,
    STATE,
    STOP,
    StateSnapshot,
)

#: How many times one request is decoded again after "stale" (each needs a swap).
STALE_RETRIES = 3


class Stale(Exception):
    """The model process answered "stale": describe and decode again."""


def error_from(payload: tuple[Any, ...]) -> ServingError:
    """The model process's error as the class it raised (any of ``core.errors``)."""
    code, message, *kind = payload
    cls = getattr(errors, kind[0], None) if kind else None
    if not (isinstance(cls, type) and issubclass(cls, ServingError)):
        cls = ServingError
    error = cls.__new__(cls)
    ServingError.__init__(error, message, Code(code))
    return error


class ModelProcessLink:
    """Calls on the model process over one connection, multiplexed by request id."""

    def __init__(self, writer: MessageStream) -> None:
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._streams: dict[int, asyncio.Queue[tuple[str, Any]]] = {}
        self.closed = False

    async def call(self, op: str, *args: Any) -> Any:
        if self.closed:
            raise Unavailable("the model process is gone")
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            self._writer.send((rid, CALL, (op, args)))
            return await future
        finally:
            self._pending.pop(rid, None)

    async def stream(self, *args: Any) -> AsyncIterator[Any]:
        """The items of a forwarded stream; raises its error, or :class:`Stale`."""
        if self.closed:
            raise Unavailable("the model process is gone")
        rid = next(self._ids)
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._streams[rid] = queue
        try:
            self._writer.send((rid, CALL, ("stream", args)))
            while True:
                kind, payload = await queue.get()
                if kind == ITEM:
                    yield payload
                elif kind == OK:
                    return
                elif kind == STALE:
                    raise Stale()
                else:
                    raise error_from(payload)
        finally:
            self._streams.pop(rid, None)

    def send_ready(self, index: int) -> None:
        """Tell the model process this worker's ports are open."""
        self._writer.send((0, READY, index))

    def close(self) -> None:
        self._writer.close()

    def cast(self, op: str, *args: Any) -> None:
        if not self.closed:
            self._writer.send((0, CAST, (op, args)))

    def deliver(self, rid: int, kind: str, payload: Any) -> None:
        """An answer arrived (called by the worker's reader)."""
        queue = self._streams.get(rid)
        if queue is not None:
            queue.put_nowait((kind, payload))
            return
        future = self._pending.get(rid)
        if future is None or future.done():
            return  # the caller gave up (cancelled)
        if kind == OK:
            future.set_result(payload)
        elif kind == STALE:
            future.set_exception(Stale())
        elif kind == ERROR:
            future.set_exception(error_from(payload))

    async def pump(
        self,
        on_state: Callable[[StateSnapshot], None],
        on_drain: Callable[[], Awaitable[None]],
    ) -> float:
        """Read the model process's messages until it says stop (returns the seconds
        the worker may take to drain) or goes away (fails what is in flight; 0)."""
        try:
            while True:
                rid, kind, payload = await self._writer.next()
                if rid:
                    self.deliver(rid, kind, payload)
                elif kind == STATE:
                    on_state(payload)
                elif kind == DRAIN:
                    await on_drain()
                elif kind == STOP:
                    return float(payload)
        except ConnectionError:
            self.fail_all()
            return 0.0

    def fail_all(self) -> None:
        """The connection is gone: every call in flight fails UNAVAILABLE."""
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unavailable("the model process is gone"))
        for queue in self._streams.values():
            queue.put_nowait((ERROR, (int(Code.UNAVAILABLE), "the model process is gone")))


class _LocalOutcome:
    """Counts a request that fails in the worker (decoding, an unknown signature, a
    gone model process); one that reached the model process was counted there. A
    "stale" answer is no outcome: the request is decoded and forwarded again."""

    def __init__(self, count: Callable[[Code], None]) -> None:
        self._count = count
        self._forwarded = False

    @contextlib.contextmanager
    def forwarding(self) -> Iterator[None]:
        """Around the forwarded call: what it raises was counted by the model process,
        except :class:`Stale`."""
        self._forwarded = True
        try:
            yield
        except Stale:
            self._forwarded = False
            raise

    def __enter__(self) -> _LocalOutcome:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any
    ) -> None:
        if error is None or self._forwarded:
            return
        code = outcome_code(error)
        if code is not None:
            self._count(code)


class BlockingLink:
    """One thread's own connection to the model process, for calls made off the loop
    (the threaded gRPC server's handlers): a round trip costs two system calls on this
    thread and no hop to the event loop."""

    def __init__(self, path: str) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._encode = Encoder()
        self._ids = itertools.count(1)
        self._sock.sendall(self._encode((0, HELLO, (CALLS_ONLY, os.getpid()))))
        read_message_blocking(self._sock)  # the welcome, which this link does not need

    def call(self, op: str, *args: Any) -> Any:
        """``op``'s answer; raises its error, :class:`Stale`, or ConnectionError."""
        rid = next(self._ids)
        self._sock.sendall(self._encode((rid, CALL, (op, args))))
        while True:
            answered, kind, payload = read_message_blocking(self._sock)
            if answered != rid:
                continue  # an answer to a call abandoned by an earlier error
            if kind == OK:
                return payload
            if kind == STALE:
                raise Stale()
            raise error_from(payload)

    def cast(self, op: str, *args: Any) -> None:
        self._sock.sendall(self._encode((0, CAST, (op, args))))

    def close(self) -> None:
        self._sock.close()


class _SnapshotRepository:
    """The repository extension, read from the snapshot, controlled by forwarding."""

    def __init__(self, plane: ForwardingDataPlane) -> None:
        self._plane = plane

    def index(self) -> list[RepositoryEntry]:
        return list(self._plane.snapshot.index)

    def readiness(self) -> tuple[bool, Mapping[str, str]]:
        return self._plane.snapshot.readiness

    async def load(self, name: str) -> None:
        await self._plane.link.call("load", name)

    async def unload(self, name: str) -> None:
        await self._plane.link.call("unload", name)


class _ForwardingObserver:
    """Counts what the worker answers itself (codec refusals) in the model process."""

    def __init__(self, link: ModelProcessLink) -> None:
        self._link = link

    def inflight(self, model: str, delta: int) -> None:
        pass

    def request_finished(
        self, model: str, api: str, protocol: str, code: Code, seconds: float
    ) -> None:
        self._link.cast("observe", model, api, protocol, int(code), seconds)

    def runtime(self, model: str, api: str, seconds: float) -> None:
        pass

    def examples(self, model: str, count: int) -> None:
        pass


class ForwardingDataPlane(DataPlane):
    """:class:`DataPlane` for a transport worker; see the module docstring."""

    def __init__(
        self,
        link: ModelProcessLink,
        snapshot: StateSnapshot,
        executor: ModelExecutor,
        *,
        endpoint_path: str | None = None,
    ) -> None:
        self.link = link
        self._endpoint_path = endpoint_path
        self._threads = threading.local()
        self._replica = ServableStateMonitor()
        self.snapshot = snapshot
        super().__init__(
            None,  # type: ignore[arg-type]  # the manager lives in the model process
            self._replica,
            executor,
            _ForwardingObserver(link),
        )
        self.repository = _SnapshotRepository(self)
        self._described: dict[ModelSpec, ModelDescription] = {}
        self.apply(snapshot)

    def apply(self, snapshot: StateSnapshot) -> None:
        """Take the model process's newest state (a new monitor, swapped whole)."""
        replica = ServableStateMonitor()
        for state in snapshot.servable_states():
            replica.publish(state)
        self._states = replica
        self.snapshot = snapshot
        self.set_version_labels(VersionLabels(snapshot.labels))

    # -- the request path -------------------------------------------------------

    async def _describe_for(self, spec: ModelSpec) -> ModelDescription:
        description = self._described.get(spec)
        if description is None:
            description = await self.link.call("describe", spec)
            if len(self._described) > 4096:
                self._described.clear()
            self._described[spec] = description
        return description

    async def describe(self, spec: ModelSpec) -> ModelDescription:
        description: ModelDescription = await self.link.call("describe", spec)
        self._described[spec] = description
        return description

    async def predict(
        self, call: Inference, *, missing_signature: MissingSignature | None = None
    ) -> InferenceResult:
        started = time.perf_counter() if call.started is None else call.started
        with _LocalOutcome(self._count(call, started)) as outcome:
            for _attempt in range(STALE_RETRIES + 1):
                description, signature, inputs = await self._decoded(call, missing_signature)
                try:
                    with outcome.forwarding():
                        outputs = await self.link.call(
                            "predict", *self._forwarded(call, description, inputs, started)
                        )
                except Stale:
                    self._described.pop(call.spec, None)
                    continue
                return InferenceResult(outputs, description.id, call.spec.signature, signature)
            raise Unavailable("the model's signatures kept changing; try again")

    def predict_blocking(
        self, call: Inference, *, missing_signature: MissingSignature | None = None
    ) -> InferenceResult:
        """:meth:`predict` on the calling thread, through its own :class:`BlockingLink`
        (without an endpoint path: :class:`RunsOnLoop`, so the caller awaits predict)."""
        if self._endpoint_path is None:
            raise RunsOnLoop(call.spec.signature)
        started = time.perf_counter() if call.started is None else call.started
        link = self._blocking_link()

        def count(code: Code) -> None:
            with contextlib.suppress(OSError):
                link.cast(
                    "observe",
                    call.spec.name,
                    call.api,
                    call.protocol,
                    int(code),
                    time.perf_counter() - started,
                )

        with _LocalOutcome(count) as outcome:
            try:
                for _attempt in range(STALE_RETRIES + 1):
                    description = self._described.get(call.spec)
                    if description is None:
                        description = link.call("describe", call.spec)
                        self._described[call.spec] = description
                    name = call.spec.signature
                    signature = description.signatures.get(name)
                    if signature is None:
                        raise (missing_signature or signature_not_found)(name)
                    inputs = call.decode(signature)
                    try:
                        with outcome.forwarding():
                            outputs = link.call(
                                "predict", *self._forwarded(call, description, inputs, started)
                            )
                    except Stale:
                        self._described.pop(call.spec, None)
                        continue
                    return InferenceResult(outputs, description.id, name, signature)
                raise Unavailable("the model's signatures kept changing; try again")
            except ConnectionError as exc:
                self._drop_blocking_link()
                raise Unavailable("the model process is gone") from exc

    def _blocking_link(self) -> BlockingLink:
        link: BlockingLink | None = getattr(self._threads, "link", None)
        if link is None:
            assert self._endpoint_path is not None
            try:
                link = BlockingLink(self._endpoint_path)
            except (OSError, ConnectionError) as exc:
                raise Unavailable("the model process is gone") from exc
            self._threads.link = link
        return link

    def _drop_blocking_link(self) -> None:
        link = getattr(self._threads, "link", None)
        if link is not None:
            link.close()
            self._threads.link = None

    async def stream(  # type: ignore[override]  # an async generator, as the base returns
        self, call: Inference, *, missing_signature: MissingSignature | None = None
    ) -> AsyncIterator[InferenceResult]:
        """:meth:`DataPlane.stream`, decoded here and run by the model process."""
        started = time.perf_counter() if call.started is None else call.started
        with _LocalOutcome(self._count(call, started)) as outcome:
            for _attempt in range(STALE_RETRIES + 1):
                description, signature, inputs = await self._decoded(call, missing_signature)
                items = self.link.stream(*self._forwarded(call, description, inputs, started))
                try:
                    with outcome.forwarding():
                        async for outputs in items:
                            yield InferenceResult(
                                outputs, description.id, call.spec.signature, signature
                            )
                    return
                except Stale:
                    self._described.pop(call.spec, None)
            raise Unavailable("the model's signatures kept changing; try again")

    async def _decoded(
        self, call: Inference, missing_signature: MissingSignature | None
    ) -> tuple[ModelDescription, Signature, Mapping[str, np.ndarray]]:
        description = await self._describe_for(call.spec)
        name = call.spec.signature
        signature = description.signatures.get(name)
        if signature is None:
            raise (missing_signature or signature_not_found)(name)
        inputs = await self.convert(call.size_hint, call.decode, signature)
        return description, signature, inputs

    @staticmethod
    def _forwarded(
        call: Inference,
        description: ModelDescription,
        inputs: Mapping[str, np.ndarray],
        started: float,
    ) -> tuple[Any, ...]:
        return (
            call.spec,
            description.id,
            inputs,
            tuple(call.output_filter),
            call.timeout_s,
            call.protocol,
            call.api,
            time.perf_counter() - started,
        )

    def _count(self, call: Inference, started: float) -> Callable[[Code], None]:
        def count(code: Code) -> None:
            self.observer.request_finished(
                call.spec.name, call.api, call.protocol, code, time.perf_counter() - started
            )

        return count

    async def classify(
        self, call: ExampleInference, *, missing_signature: MissingSignature | None = None
    ) -> ExampleResult[Classifications]:
        return await self._examples("classify", call, missing_signature)

    async def regress(
        self, call: ExampleInference, *, missing_signature: MissingSignature | None = None
    ) -> ExampleResult[np.ndarray]:
        return await self._examples("regress", call, missing_signature)

    async def _examples(
        self, op: str, call: ExampleInference, missing_signature: MissingSignature | None
    ) -> Any:
        if missing_signature is not None:
            # The transport's own text for an unknown signature: checked here first.
            description = await self._describe_for(call.spec)
            if call.spec.signature not in description.signatures:
                error = missing_signature(call.spec.signature)
                self.observer.request_finished(
                    call.spec.name, call.api, call.protocol, error.code, 0.0
                )
                raise error
        return await self.link.call(op, _plain(call))

    async def multi_inference(
        self,
        call: ExampleInference,
        plan: Callable[[Mapping[str, Signature]], Sequence[tuple[str, str]]],
    ) -> ExampleResult[list[Classifications | np.ndarray]]:
        description = await self.describe(call.spec)
        tasks = list(plan(description.signatures))
        return await self.link.call("multi_inference", _plain(call), tasks)  # type: ignore[no-any-return]

    def acquire(self, spec: ModelSpec, backstop_s: float | None = None) -> Any:
        raise Cancelled("a transport worker holds no models")  # pragma: no cover


def _plain(call: ExampleInference) -> ExampleInference:
    """``call`` with its examples as a list of bytes (a proto's repeated field does
    not pickle)."""
    return call._replace(examples=[bytes(example) for example in call.examples])
