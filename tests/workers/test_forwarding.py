"""A transport worker's data plane answers as the model process's own would.

The model process side (:class:`ModelEndpoint` over a real ``DataPlane``) and the
worker side (:class:`ForwardingDataPlane`) run on one loop, joined by a real Unix
socket: what a codec gets back, errors and all, and what the model process counts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tensorserve.core.errors import Code, InvalidArgument, NotFound, ServingError, Unavailable
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import DataPlane, ExampleInference, Inference, ModelSpec
from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.dataplane.repository import StaticRepository
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature
from tensorserve.workers.forwarding_dataplane import ForwardingDataPlane
from tensorserve.workers.model_endpoint import ModelEndpoint, ServerControl
from tensorserve.workers.worker_main import connect
from tests.dataplane.test_dataplane import SIGNATURES, Model, Observer
from tests.support.fake_manager import FakeManager


class DoubleModel(Model):
    """Version 2: the same computation on float64 input, so its signature differs."""

    SIGNATURES = {
        "serving_default": dataclasses.replace(
            SIGNATURES["serving_default"],
            inputs={
                "x": dataclasses.replace(
                    SIGNATURES["serving_default"].inputs["x"], dtype=DataType.DT_DOUBLE
                )
            },
        )
    }

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self.SIGNATURES


class Decoder:
    """A codec's decode: float32 or float64 as the signature asks; records each call."""

    def __init__(self) -> None:
        self.signatures: list[Signature] = []
        self.threads: list[int] = []

    def __call__(self, signature: Signature) -> Mapping[str, np.ndarray]:
        self.signatures.append(signature)
        self.threads.append(threading.get_ident())
        if signature.method_name != PREDICT_METHOD:
            raise InvalidArgument("not a predict signature")
        dtype = np.float64 if signature.inputs["x"].dtype is DataType.DT_DOUBLE else np.float32
        return {"x": np.array([1.0, 2.0], dtype)}


class Pair:
    """A model process's data plane and endpoint, and one worker's data plane."""

    def __init__(self, path: Path) -> None:
        self.manager = FakeManager({"m": {1: Model()}})
        self.states = ServableStateMonitor()
        self.states.publish(ServableState(ServableId("m", 1), ManagerState.AVAILABLE))
        self.observer = Observer()
        self.executor = ModelExecutor(2)
        self.dataplane = DataPlane(self.manager, self.states, self.executor, self.observer)
        self.reloads: list[bytes] = []
        control = ServerControl(
            monitor=self.states,
            repository=StaticRepository(self.states),
            labels=lambda: {"m": {"stable": 1}},
            draining=lambda: False,
            reload_config=self._reload,
            render_metrics=lambda: "requests_total 3\n",
            metric_value=lambda _name: None,
        )
        self.endpoint = ModelEndpoint(self.dataplane, control, str(path))
        self.worker_executor = ModelExecutor(2)
        self.plane: ForwardingDataPlane
        self._pump: asyncio.Task[float]

    async def _reload(self, proto: Any) -> None:
        self.reloads.append(proto.SerializeToString())

    async def start(self) -> None:
        await self.endpoint.start(lambda index: f"welcome {index}")
        link, welcome, snapshot = await connect(self.endpoint.path, 1)
        assert welcome == "welcome 1"
        self.plane = ForwardingDataPlane(
            link, snapshot, self.worker_executor, endpoint_path=self.endpoint.path
        )

        async def no_drain() -> None:
            pass

        self._pump = asyncio.create_task(link.pump(self.plane.apply, no_drain))

    async def stop(self) -> None:
        await self.endpoint.close()
        await asyncio.wait_for(self._pump, 5)
        self.executor.shutdown()
        self.worker_executor.shutdown()

    def finished(self) -> list[tuple[str, str, str, Code]]:
        return self.observer.finished


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Yield to the loop until ``condition()`` holds (messages cross the socket)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def run(tmp_path: Path, scenario: Callable[[Pair], Any]) -> Any:
    async def main() -> Any:
        pair = Pair(tmp_path / "model.sock")
        await pair.start()
        try:
            return await scenario(pair)
        finally:
            await pair.stop()

    return asyncio.run(main())


def call(decode: Decoder, spec: ModelSpec | None = None, **fields: Any) -> Inference:
    fields.setdefault("protocol", "REST")
    return Inference(spec or ModelSpec("m"), decode, 10, api="predict", **fields)


def test_predict_decodes_in_the_worker_and_is_counted_once_by_the_model_process(
    tmp_path: Path,
) -> None:
    decode = Decoder()

    async def scenario(pair: Pair) -> None:
        result = await pair.plane.predict(call(decode, protocol="GRPC"))
        np.testing.assert_array_equal(result.outputs["y"], [2.0, 4.0])
        assert result.id == ServableId("m", 1)
        assert result.signature is decode.signatures[0]
        assert result.signature == SIGNATURES["serving_default"]
        # A second call reuses the described signatures: no second describe needed.
        await pair.plane.predict(call(decode, protocol="GRPC"))
        assert decode.signatures[1] is decode.signatures[0]
        assert pair.finished() == [("m", "predict", "GRPC", Code.OK)] * 2
        assert pair.manager.open_handles == 0

    run(tmp_path, scenario)


def test_errors_arrive_as_the_in_process_ones_and_are_counted_once(tmp_path: Path) -> None:
    def grpc_text(name: str) -> ServingError:
        return InvalidArgument(f"grpc: no signature {name}")

    async def scenario(pair: Pair) -> list[tuple[type[BaseException], str]]:
        errors = []
        cases = [
            (call(Decoder(), ModelSpec("nope")), None),
            (call(Decoder(), ModelSpec("m", version=9)), None),
            (call(Decoder(), ModelSpec("m", signature_name="other")), grpc_text),
            (call(Decoder(), ModelSpec("m", signature_name="classify")), None),
        ]
        for request, missing in cases:
            with pytest.raises(ServingError) as raised:
                await pair.plane.predict(request, missing_signature=missing)
            errors.append((raised.value.code, raised.value.message))
        pair.manager.models["m"][1].error = NotFound("model said no")
        with pytest.raises(ServingError) as raised:
            await pair.plane.predict(call(Decoder()))
        errors.append((raised.value.code, raised.value.message))
        await until(lambda: len(pair.finished()) == 5)
        assert [code for *_, code in pair.finished()] == [code for code, _ in errors]
        return errors

    errors = run(tmp_path, scenario)
    assert errors == [
        (Code.NOT_FOUND, "Servable not found for request: Latest(nope)"),
        (Code.NOT_FOUND, "Servable not found for request: Specific(m, 9)"),
        (Code.INVALID_ARGUMENT, "grpc: no signature other"),
        (Code.INVALID_ARGUMENT, "not a predict signature"),
        (Code.NOT_FOUND, "model said no"),
    ]


def test_a_swap_to_other_signatures_decodes_again_and_answers_from_the_new_version(
    tmp_path: Path,
) -> None:
    decode = Decoder()

    async def scenario(pair: Pair) -> None:
        await pair.plane.predict(call(decode))
        pair.manager.models["m"] = {2: DoubleModel()}  # version 1 is gone, 2 serves
        result = await pair.plane.predict(call(decode))
        assert result.id == ServableId("m", 2)
        assert [s.inputs["x"].dtype for s in decode.signatures] == [
            DataType.DT_FLOAT,
            DataType.DT_FLOAT,
            DataType.DT_DOUBLE,
        ]
        assert result.outputs["y"].dtype == np.float64
        assert pair.finished() == [("m", "predict", "REST", Code.OK)] * 2  # the retry is one

    run(tmp_path, scenario)


def test_state_labels_and_readiness_follow_the_model_process(tmp_path: Path) -> None:
    async def scenario(pair: Pair) -> None:
        plane = pair.plane
        assert plane.model_ready("m") and plane.server_ready()
        assert plane.version_labels.resolve("m", "stable") == 1
        pair.states.publish(
            ServableState(ServableId("m", 1), ManagerState.END, NotFound("gone for good"))
        )
        await until(lambda: not plane.model_ready("m"))
        [state] = plane.model_status("m")
        assert state.state is ManagerState.END and state.error is not None
        assert (state.error.code, state.error.message) == (Code.NOT_FOUND, "gone for good")
        assert not plane.server_ready()
        with pytest.raises(NotFound, match="Could not find any versions of model x"):
            plane.model_status("x")

    run(tmp_path, scenario)


def test_examples_multi_inference_streams_and_control_are_forwarded(tmp_path: Path) -> None:
    async def scenario(pair: Pair) -> None:
        plane = pair.plane
        examples = ExampleInference(ModelSpec("m", signature_name="regress"), [b"e1", b"e2"])
        regressed = await plane.regress(examples)
        np.testing.assert_array_equal(regressed.result, [3.0, 3.0])
        classified = await plane.classify(
            examples._replace(spec=ModelSpec("m", signature_name="classify"))
        )
        np.testing.assert_array_equal(classified.result.scores, np.ones((2, 1)))

        def plan(signatures: Mapping[str, Signature]) -> list[tuple[str, str]]:
            assert "regress" in signatures
            return [("regress", "tensorflow/serving/regress")]

        multi = await plane.multi_inference(examples, plan)
        assert multi.result == [("regress", "tensorflow/serving/regress", 2)]

        results: AsyncIterator[Any] = plane.stream(call(Decoder()))
        outputs = [result.outputs["y"].tolist() async for result in results]
        assert outputs == [[2.0, 4.0]]

        from tensorserve.protos.tfserving import model_server_config_pb2

        await plane.link.call(
            "reload_config", model_server_config_pb2.ModelServerConfig().SerializeToString()
        )
        assert pair.reloads == [b""]
        assert await plane.link.call("metrics") == "requests_total 3\n"

    run(tmp_path, scenario)


def test_a_gone_model_process_fails_calls_unavailable(tmp_path: Path) -> None:
    async def scenario(pair: Pair) -> None:
        pair.manager.models["m"][1].gate.clear()  # the model run waits
        running = asyncio.create_task(pair.plane.predict(call(Decoder())))
        await until(lambda: pair.manager.open_handles == 1)
        await pair.endpoint.close()
        with pytest.raises(Unavailable, match="the model process is gone"):
            await running
        with pytest.raises(Unavailable):
            await pair.plane.predict(call(Decoder()))
        pair.manager.models["m"][1].gate.set()

    run(tmp_path, scenario)


def test_predict_blocking_calls_through_the_threads_own_connection(tmp_path: Path) -> None:
    """The threaded gRPC server's path: decode and the round trip on the handler
    thread, errors and swaps as on the loop, each request counted once."""
    decode = Decoder()

    async def scenario(pair: Pair) -> None:
        plane = pair.plane
        result = await asyncio.to_thread(plane.predict_blocking, call(decode, protocol="GRPC"))
        np.testing.assert_array_equal(result.outputs["y"], [2.0, 4.0])
        assert decode.threads[0] != threading.get_ident()
        with pytest.raises(NotFound, match="Specific\\(m, 7\\)"):
            await asyncio.to_thread(plane.predict_blocking, call(Decoder(), ModelSpec("m", 7)))
        pair.manager.models["m"] = {2: DoubleModel()}
        result = await asyncio.to_thread(plane.predict_blocking, call(decode, protocol="GRPC"))
        assert result.id == ServableId("m", 2) and result.outputs["y"].dtype == np.float64
        await until(lambda: len(pair.finished()) == 3)
        assert [code for *_, code in pair.finished()] == [Code.OK, Code.NOT_FOUND, Code.OK]
        assert len(pair.endpoint.ready) == 0  # a thread's link is no worker

    run(tmp_path, scenario)
