"""What one forwarded request costs a --num_workers server, beside the direct call.

A transport worker forwards each model call to the model process over a Unix socket
(``tensorserve.workers``). This times that hop as built, with both ends on one event
loop in this process, so the figure is the CPU the two sides spend together and no
scheduler or second core blurs it:

* **direct**: ``DataPlane.predict`` in the model process (decode, hold the version,
  the model call on the model executor, count, release);
* **forwarded**: ``ForwardingDataPlane.predict`` in a worker, through a real
  ``ModelEndpoint`` over a real Unix socket to the same ``DataPlane``;
* **frames**: the pickled frames one request and its answer cost to encode and decode
  (``workers.channel``), the share of the hop a raw-bytes format could save.

The model is half_plus_two's computation on one float32 (``0.5 * x + 2``), so the rows
differ by the request path only. Cells are interleaved over ``--rounds`` rounds and the
median kept: CPU µs per call (``time.process_time``), callers at 1, 8 and 32.

    PYTHONPATH=src .venv/bin/python benchmarks/worker_hop.py            # ~30 s
    PYTHONPATH=src .venv/bin/python benchmarks/worker_hop.py --quick    # ~8 s
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import pickle
import statistics
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

from tensorserve.core.errors import ServableNotFound
from tensorserve.core.manager import Manager, ServableHandle
from tensorserve.core.servable_id import ServableId, ServableRequest
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import DataPlane, Inference, InferenceResult, ModelSpec
from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.dataplane.repository import StaticRepository
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.workers.channel import Encoder
from tensorserve.workers.forwarding_dataplane import ForwardingDataPlane
from tensorserve.workers.model_endpoint import CALL, OK, ModelEndpoint, ServerControl
from tensorserve.workers.worker_main import connect

MODEL = ServableId("half_plus_two", 1)
LENGTH_BYTES = 8
"""A frame's length prefix (``workers.channel``)."""
SIGNATURES = {
    "serving_default": Signature(
        "serving_default",
        PREDICT_METHOD,
        {"x": TensorInfo("x:0", DataType.DT_FLOAT, (-1,))},
        {"y": TensorInfo("y:0", DataType.DT_FLOAT, (-1,))},
    )
}


class HalfPlusTwo:
    """half_plus_two's computation, with no runtime behind it."""

    platform = "benchmark"
    signatures: Mapping[str, Signature] = SIGNATURES

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        return {"y": inputs["x"] * np.float32(0.5) + np.float32(2)}


class _Handle(ServableHandle):
    def __init__(self, servable: HalfPlusTwo) -> None:
        self._servable = servable

    @property
    def id(self) -> ServableId:
        return MODEL

    @property
    def servable(self) -> Any:
        return self._servable

    def close(self) -> None:
        pass


class OneModel(Manager):
    """Serves the one model, whatever version is asked."""

    def __init__(self) -> None:
        self._model = HalfPlusTwo()

    def get_servable_handle(self, request: ServableRequest) -> ServableHandle:
        if request.name != MODEL.name:
            raise ServableNotFound(request)
        return _Handle(self._model)

    def available_ids(self) -> list[ServableId]:
        return [MODEL]


def decode(_signature: Signature) -> dict[str, np.ndarray]:
    return {"x": np.array([1.0], np.float32)}


def request() -> Inference:
    return Inference(ModelSpec(MODEL.name), decode, 4, api="predict", protocol="REST")


async def _no_drain() -> None:
    pass


async def measure(rounds: int, calls: int) -> dict[tuple[str, int], list[float]]:
    """CPU µs per call of each (path, callers) cell, one value per round."""
    states = ServableStateMonitor()
    states.publish(ServableState(MODEL, ManagerState.AVAILABLE))
    model_executor, worker_executor = ModelExecutor(2), ModelExecutor(2)
    dataplane = DataPlane(OneModel(), states, model_executor)

    async def no_reload(_proto: Any) -> None:
        pass

    control = ServerControl(
        monitor=states,
        repository=StaticRepository(states),
        labels=dict,
        draining=lambda: False,
        reload_config=no_reload,
        render_metrics=str,
        metric_value=lambda _name: None,
    )
    with tempfile.TemporaryDirectory() as directory:
        endpoint = ModelEndpoint(dataplane, control, str(Path(directory) / "model.sock"))
        await endpoint.start(lambda index: None)
        link, _welcome, snapshot = await connect(endpoint.path, 1)
        worker = ForwardingDataPlane(link, snapshot, worker_executor)
        pump = asyncio.create_task(link.pump(worker.apply, _no_drain))
        paths: dict[str, Callable[[Inference], Awaitable[InferenceResult]]] = {
            "direct": dataplane.predict,
            "forwarded": worker.predict,
        }
        results: dict[tuple[str, int], list[float]] = {}
        try:
            for _round in range(rounds + 1):  # round 0 warms up
                for callers in (1, 8, 32):
                    for name, predict in paths.items():
                        cpu_us = await _cell(predict, callers, calls)
                        if _round:
                            results.setdefault((name, callers), []).append(cpu_us)
        finally:
            await endpoint.close()
            await asyncio.wait_for(pump, 5)
            model_executor.shutdown()
            worker_executor.shutdown()
    return results


async def _cell(
    predict: Callable[[Inference], Awaitable[InferenceResult]], callers: int, calls: int
) -> float:
    per_caller = max(calls // callers, 1)

    async def caller() -> None:
        for _ in range(per_caller):
            await predict(request())

    started = time.process_time()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return (time.process_time() - started) / (per_caller * callers) * 1e6


def frame_costs() -> dict[str, float]:
    """µs to encode and decode one forwarded request's frames and its answer's."""
    encode = Encoder()
    spec = ModelSpec(MODEL.name, signature_name="serving_default")
    inputs = decode(SIGNATURES["serving_default"])
    call = (spec, MODEL, inputs, (), 10.0, "REST", "predict", 0.0001)
    messages = {
        "request": (17, CALL, ("predict", call)),
        "answer": (17, OK, {"y": inputs["x"]}),
    }
    costs = {}
    for name, message in messages.items():
        frame = encode(message)
        body = memoryview(frame)[LENGTH_BYTES:]
        costs[f"encode {name} ({len(frame)} B)"] = _best_us(functools.partial(encode, message))
        costs[f"decode {name}"] = _best_us(functools.partial(pickle.loads, body))
    return costs


def _best_us(fn: Callable[[], Any], number: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=6000, help="calls per cell")
    parser.add_argument("--quick", action="store_true", help="1 round of 2,000 calls")
    args = parser.parse_args()
    rounds, calls = (1, 2000) if args.quick else (args.rounds, args.calls)
    results = uvloop.run(measure(rounds, calls))
    print(f"CPU µs per call, both ends in this process, median of {rounds} round(s)")
    print("| callers | direct | forwarded | hop |")
    print("|---:|---:|---:|---:|")
    for callers in (1, 8, 32):
        direct = statistics.median(results[("direct", callers)])
        forwarded = statistics.median(results[("forwarded", callers)])
        print(f"| {callers} | {direct:.1f} | {forwarded:.1f} | {forwarded - direct:.1f} |")
    costs = frame_costs()
    print("\nPickled frames, µs (best of 5 timeit runs)")
    for name, cost in costs.items():
        print(f"  {name}: {cost:.2f}")
    print(f"  all four: {sum(costs.values()):.1f}")


if __name__ == "__main__":
    main()
