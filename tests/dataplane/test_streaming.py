"""stream_inference: a streaming signature's chunks as results, the version held for the
whole stream and released when it ends or is closed early; one result otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tensorserve.core.errors import Code, InvalidArgument
from tensorserve.core.servable_state import ServableStateMonitor
from tensorserve.dataplane import DataPlane, Inference, ModelSpec, stream_inference
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tests.dataplane.test_dataplane import Observer
from tests.support.fake_manager import FakeManager

INT = DataType.DT_INT64
SIGNATURE = Signature(
    "serving_default", PREDICT_METHOD, {"n": TensorInfo("n", INT)}, {"i": TensorInfo("i", INT)}
)


class Counter:
    """Streams ``i`` = 0..n-1 when ``streams``; else answers one ``i`` = n."""

    platform = "fake"
    signatures = {"serving_default": SIGNATURE}

    def __init__(self, streams: bool) -> None:
        self.streams = streams
        self.closed = False

    def is_streaming(self, signature_name: str) -> bool:
        return self.streams

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        return {"i": inputs["n"]}

    async def astream(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        timeout_s: float | None,
        run_blocking: Callable[..., Any],
    ) -> AsyncIterator[dict[str, np.ndarray]]:
        try:
            for i in range(int(inputs["n"][0])):
                yield {"i": np.array([i])}
        finally:
            self.closed = True


def _plane(model: Counter) -> tuple[DataPlane, FakeManager]:
    manager = FakeManager({"counter": {1: model}})
    return DataPlane(manager, ServableStateMonitor(), ThreadPoolExecutor(2)), manager


def _call(n: int, output_filter: Sequence[str] = ()) -> Inference:
    return Inference(
        ModelSpec("counter"), lambda s: {"n": np.array([n])}, 8, output_filter=output_filter
    )


def test_every_chunk_comes_in_order_and_the_version_is_released() -> None:
    plane, manager = _plane(Counter(streams=True))

    async def run() -> list[int]:
        return [int(r.outputs["i"][0]) async for r in stream_inference(plane, _call(3))]

    assert asyncio.run(run()) == [0, 1, 2]
    assert manager.open_handles == 0


def test_closing_early_closes_the_models_stream_and_releases_the_version() -> None:
    model = Counter(streams=True)
    plane, manager = _plane(model)

    async def run() -> None:
        results = stream_inference(plane, _call(100))
        await anext(results)
        assert manager.open_handles == 1
        await results.aclose()

    asyncio.run(run())
    assert model.closed and manager.open_handles == 0


def test_a_signature_that_does_not_stream_answers_once() -> None:
    plane, _ = _plane(Counter(streams=False))

    async def run() -> list[int]:
        return [int(r.outputs["i"][0]) async for r in stream_inference(plane, _call(7))]

    assert asyncio.run(run()) == [7]


def test_an_unknown_output_is_refused_before_the_model_runs() -> None:
    plane, manager = _plane(Counter(streams=True))

    async def run() -> None:
        async for _ in stream_inference(plane, _call(3, ["nope"])):
            pass

    with pytest.raises(InvalidArgument, match="unexpected inference output 'nope'"):
        asyncio.run(run())
    assert manager.open_handles == 0


def test_a_stream_is_counted_once_when_it_ends_however_it_ends() -> None:
    manager = FakeManager({"counter": {1: Counter(streams=True)}})
    observer = Observer()
    plane = DataPlane(manager, ServableStateMonitor(), ThreadPoolExecutor(2), observer)

    async def read_all() -> None:
        async for _ in stream_inference(plane, _call(3)):
            assert observer.finished == []  # not while it runs

    async def close_early() -> None:
        results = stream_inference(plane, _call(100))
        await anext(results)
        await results.aclose()

    async def refused() -> None:
        with pytest.raises(InvalidArgument):
            async for _ in stream_inference(plane, _call(3, ["nope"])):
                pass

    for scenario in (read_all, close_early, refused):
        asyncio.run(scenario())
    assert [code for *_, code in observer.finished] == [
        Code.OK,
        Code.CANCELLED,
        Code.INVALID_ARGUMENT,
    ]
