"""The model process's side of the worker channel: runs what transport workers forward.

Each worker holds one connection. It forwards every call that needs a model or
the manager (predict, classify, regress, multi-inference, streams, metadata,
model control, config reloads, metric reads) and gets the answer, or the error
as its canonical code and message, under the request id it chose; calls run
concurrently. The endpoint pushes a :class:`StateSnapshot` to every worker when
a version changes state, after each control call (before its answer, so the
worker that asked reads the new state at once) and when the server drains:
the worker's synchronous reads (model status, readiness, labels, health) come
from it.

Requests are counted here, by the model process's own data plane, so
``/monitoring/prometheus/metrics`` on any process shows the whole server; a
worker sends the requests its codec refused as ``observe`` casts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from tensorserve.core.errors import Code, ServingError, as_answer
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import DataPlane, ExampleInference, Inference, ModelSpec
from tensorserve.dataplane.dataplane import StaleSignature
from tensorserve.dataplane.repository import ModelRepository, RepositoryEntry
from tensorserve.servables.signature import Signature
from tensorserve.workers.channel import MessageStream

_LOG = logging.getLogger("tensorserve.workers")

#: Message kinds from the model process.
OK, ERROR, STALE, ITEM, STATE, DRAIN, STOP, WELCOME = (
    "ok", "error", "stale", "item", "state", "drain", "stop", "welcome",
)  # fmt: skip
#: Message kinds from a worker.
CALL, CAST, HELLO, READY = "call", "cast", "hello", "ready"
#: The worker index a thread's blocking connection says hello with.
CALLS_ONLY = -1


@dataclasses.dataclass(frozen=True, slots=True)
class StateSnapshot:
    """What a worker reads synchronously, as the model process last saw it.

    ``states`` holds ``(state, error code, error message)`` per version: errors
    travel as code and text, which is all any protocol renders of them.
    """

    states: Mapping[str, Mapping[int, tuple[int, int, str]]]
    labels: Mapping[str, Mapping[str, int]]
    readiness: tuple[bool, Mapping[str, str]]
    index: Sequence[RepositoryEntry]
    draining: bool

    def servable_states(self) -> list[ServableState]:
        out = []
        for name, versions in self.states.items():
            for version, (state, code, message) in versions.items():
                error = ServingError(message, Code(code)) if message else None
                out.append(ServableState(ServableId(name, version), ManagerState(state), error))
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Welcome:
    """What the model process tells a worker first: the options, and the ports it
    bound (the flags may say 0)."""

    options: Any
    grpc_port: int
    rest_port: int


@dataclasses.dataclass(frozen=True, slots=True)
class ServerControl:
    """What the endpoint may do to the server besides running requests."""

    monitor: ServableStateMonitor
    repository: ModelRepository
    labels: Callable[[], Mapping[str, Mapping[str, int]]]
    draining: Callable[[], bool]
    reload_config: Callable[[Any], Awaitable[None]]
    render_metrics: Callable[[], str]
    metric_value: Callable[[str], int | None]


def error_payload(exc: BaseException) -> tuple[int, str]:
    error = as_answer(exc)
    return int(error.code), error.message


def typed_error_payload(exc: BaseException) -> tuple[int, str, str]:
    """(code, message, class name): codecs tell some errors apart by class (V2 words
    ``ServableNotFound`` as Triton does), so the worker rebuilds the same class."""
    error = as_answer(exc)
    return int(error.code), error.message, type(error).__name__


class ModelEndpoint:
    """Serves the worker channel on a Unix socket. Call from the model process's loop."""

    def __init__(self, dataplane: DataPlane, control: ServerControl, path: str) -> None:
        self._dataplane = dataplane
        self._control = control
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[MessageStream] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._signatures: dict[ServableId, Mapping[str, Signature]] = {}
        self._welcome: Callable[[int], Any] = lambda _index: None
        self._push_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready: dict[int, int] = {}
        """worker index -> pid, for the workers serving now."""
        self._changed = asyncio.Event()

    async def start(self, welcome: Callable[[int], Any]) -> None:
        """Listen; ``welcome(index)`` is what a worker gets first (its options)."""
        self._loop = asyncio.get_running_loop()
        self._welcome = welcome
        self._server = await self._loop.create_unix_server(
            lambda: MessageStream(self._connected), self.path
        )
        self._control.monitor.add_listener(self._on_state)

    def _on_state(self, state: ServableState) -> None:
        if state.state is ManagerState.END:
            self._signatures.pop(state.id, None)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._schedule_push)

    def _schedule_push(self) -> None:
        # Coalesces a burst of transitions (a config of many models) into one push.
        if not self._push_pending:
            self._push_pending = True
            asyncio.get_running_loop().call_soon(self.push_state)

    def snapshot(self) -> StateSnapshot:
        monitor = self._control.monitor
        states = {}
        for name in monitor.names():
            states[name] = {
                version: (int(s.state), *(error_payload(s.error) if s.error else (0, "")))
                for version, s in monitor.versions(name).items()
            }
        return StateSnapshot(
            states,
            self._control.labels(),
            self._control.repository.readiness(),
            tuple(self._control.repository.index()),
            self._control.draining(),
        )

    def push_state(self) -> None:
        """Send the current snapshot to every worker now."""
        self._push_pending = False
        if self._writers:
            message = (0, STATE, self.snapshot())
            for writer in list(self._writers):
                writer.send(message)

    def broadcast(self, kind: str, payload: Any = None) -> None:
        for writer in list(self._writers):
            writer.send((0, kind, payload))

    async def close(self) -> None:
        """Stop listening and drop every worker connection (workers exit on EOF)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- one worker's connection ---------------------------------------------------

    def _connected(self, stream: MessageStream) -> None:
        task = asyncio.create_task(self._serve(stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, writer: MessageStream) -> None:
        index = -1
        try:
            _rid, kind, payload = await writer.next()
            if kind != HELLO:
                return
            index, pid = payload
            writer.send((0, WELCOME, (self._welcome(index), self.snapshot())))
            if index != CALLS_ONLY:  # a worker's own link; a thread's link gets no pushes
                self._writers.add(writer)
            while True:
                rid, kind, payload = await writer.next()
                if kind == CAST:
                    self._cast(payload)
                    continue
                if kind == READY:
                    self.ready[index] = pid
                    self._changed.set()
                    continue
                task = asyncio.create_task(self._answer(writer, rid, *payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except ConnectionError:
            pass  # the worker went away; its calls still running answer into the void
        finally:
            self._writers.discard(writer)
            if self.ready.pop(index, None) is not None:
                self._changed.set()
            writer.close()

    async def wait_ready(self, count: int, timeout_s: float) -> bool:
        """Whether ``count`` workers are serving, waiting up to ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.ready) < count:
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    def _cast(self, payload: tuple[Any, ...]) -> None:
        op, args = payload
        try:
            if op == "observe":
                model, api, protocol, code, elapsed = args
                self._dataplane.observer.request_finished(model, api, protocol, Code(code), elapsed)
        except Exception:  # a bug in one message must not cut the worker off
            _LOG.exception("worker message %r failed", op)

    async def _answer(
        self, writer: MessageStream, rid: int, op: str, args: tuple[Any, ...]
    ) -> None:
        try:
            if op == "stream":
                await self._stream(writer, rid, *args)
                return
            result = await getattr(self, "_op_" + op)(*args)
            writer.send((rid, OK, result))
        except StaleSignature:
            writer.send((rid, STALE, None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = as_answer(exc)
            if error is not exc:
                _LOG.exception("forwarded %s failed unexpectedly", op)
            writer.send((rid, ERROR, typed_error_payload(error)))

    # -- the forwarded operations ----------------------------------------------------

    async def _op_describe(self, spec: ModelSpec) -> Any:
        description = await self._dataplane.describe(spec)
        self._signatures[description.id] = description.signatures
        return description

    def _inference(
        self,
        spec: ModelSpec,
        expected: ServableId,
        inputs: Any,
        output_filter: Sequence[str],
        timeout_s: float | None,
        protocol: str,
        api: str,
        elapsed_s: float,
    ) -> Inference:
        known = self._signatures.get(expected)
        name = spec.signature

        def decoded(signature: Signature) -> Any:
            # The worker decoded for the signature object it described; another one
            # (a swap to a version with other signatures) means decode again.
            if known is None or known.get(name) is not signature:
                raise StaleSignature(name)
            return inputs

        started = time.perf_counter() - elapsed_s
        return Inference(spec, decoded, 0, output_filter, timeout_s, protocol, api, started)

    async def _op_predict(self, *args: Any) -> Any:
        call = self._inference(*args)
        result = await self._dataplane.predict(call, missing_signature=StaleSignature)
        return result.outputs

    async def _stream(self, writer: MessageStream, rid: int, *args: Any) -> None:
        call = self._inference(*args)
        results = self._dataplane.stream(call, missing_signature=StaleSignature)
        async with contextlib.aclosing(results):
            async for result in results:
                writer.send((rid, ITEM, result.outputs))
                await writer.drain()
        writer.send((rid, OK, None))

    async def _op_classify(self, call: ExampleInference) -> Any:
        return await self._dataplane.classify(call)

    async def _op_regress(self, call: ExampleInference) -> Any:
        return await self._dataplane.regress(call)

    async def _op_multi_inference(
        self, call: ExampleInference, tasks: Sequence[tuple[str, str]]
    ) -> Any:
        return await self._dataplane.multi_inference(call, lambda _signatures: tasks)

    async def _op_reload_config(self, proto_bytes: bytes) -> None:
        from tensorserve.protos.tfserving import model_server_config_pb2

        proto = model_server_config_pb2.ModelServerConfig.FromString(proto_bytes)
        try:
            await self._control.reload_config(proto)
        finally:
            self.push_state()

    async def _op_load(self, name: str) -> None:
        try:
            await self._control.repository.load(name)
        finally:
            self.push_state()

    async def _op_unload(self, name: str) -> None:
        try:
            await self._control.repository.unload(name)
        finally:
            self.push_state()

    async def _op_metrics(self) -> str:
        return self._control.render_metrics()

    async def _op_metric_values(self, names: Sequence[str]) -> dict[str, int | None]:
        return {name: self._control.metric_value(name) for name in names}
