"""Per-request cost of each stage of a REST predict, in microseconds, in one process.

Stages, in request order: HTTP parse (httptools), JSON decode (the server's
``parse_predict_body`` and its decode to the signature's dtypes, so bodies of
1 KB or more take the native number-array path as they do in the server), dispatch
(handle + hand-over to a worker and back), the model call itself, JSON encode, and a
whole request through the HTTP protocol. Each is timed in a tight loop on the same
model, so the figures add up to what the server spends and show what is not the
model's own work.

    .venv/bin/python benchmarks/stage_costs.py [--model-dir DIR] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if not os.environ.get("TF_ENABLE_ONEDNN_OPTS"):  # as the server runs models
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / ".." / "shared" / "testdata" / "tfserving" / "saved_model_half_plus_two_cpu"


def per_call_us(fn: Callable[[], Any], seconds: float = 1.0) -> float:
    """Mean microseconds per call of ``fn`` over about ``seconds``."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        n += 100
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    version_dir = next(p for p in sorted(args.model_dir.iterdir()) if p.name.isdigit())

    import httptools
    import numpy as np
    import orjson

    from tensorserve.core.servable_id import ServableId
    from tensorserve.dataplane.model_executor import ModelExecutor
    from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader
    from tensorserve.rest.predict_body import parse_predict_body
    from tensorserve.rest.predict_response import render_predict_response

    loader = SavedModelLoader(ServableId("m", int(version_dir.name)), version_dir)
    loader.load()
    model = loader.servable()
    signature = model.signatures["serving_default"]
    dtypes = {alias: info.dtype for alias, info in signature.inputs.items()}
    (alias,) = dtypes
    declared = signature.inputs[alias].shape or (-1,)
    # The signature's shape with the batch first and unknown dimensions as 1.
    shape = (args.batch, *(dim if dim > 0 else 1 for dim in declared[1:]))
    # Three-decimal pixels, like an image a client scaled to [0, 1] and rounded.
    pixels = np.random.default_rng(0).random(shape).round(3)
    body = orjson.dumps({"instances": pixels.tolist()})
    raw = (
        b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    inputs = {alias: np.ones(shape, np.float32)}
    outputs = model.predict("serving_default", inputs)

    class Sink:
        def on_message_complete(self) -> None:
            pass

    def http_parse() -> None:
        httptools.HttpRequestParser(Sink()).feed_data(raw)

    def json_decode() -> None:
        parse_predict_body(body).decode(dtypes)

    def model_call() -> None:
        model.predict("serving_default", inputs)

    request_format = parse_predict_body(body).request_format

    def json_encode() -> None:
        render_predict_response(outputs, request_format)

    executor = ModelExecutor(1)

    async def dispatch_loop(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await executor.submit(int)
        return (time.perf_counter() - start) / n * 1e6

    def run(coro_fn: Callable[[int], Any], n: int) -> float:
        return float(asyncio.run(coro_fn(n)))

    stages = [
        ("HTTP parse (httptools)", per_call_us(http_parse, args.seconds)),
        ("JSON decode (parse_predict_body + decode)", per_call_us(json_decode, args.seconds)),
        ("dispatch (hand-over to a worker and back, 1 caller)", run(dispatch_loop, 20000)),
        ("model call (TensorFlowModel.predict)", per_call_us(model_call, args.seconds)),
        ("JSON encode (render predictions)", per_call_us(json_encode, args.seconds)),
    ]
    executor.shutdown()
    print(f"model: {version_dir}  batch: {args.batch}  python: {sys.version.split()[0]}")
    total = sum(us for _, us in stages)
    for name, us in stages:
        print(f"  {name:<52} {us:8.1f} µs  {us / total:6.1%}")
    print(f"  {'sum of stages':<52} {total:8.1f} µs")
    model_share = stages[3][1] / total
    print(f"  the model's own work is {model_share:.0%} of the per-request CPU time above")
    loader.unload()
    return 0


if __name__ == "__main__":
    sys.exit(main())
