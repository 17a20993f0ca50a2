"""Fallback gRPC load generator: a closed loop of N grpc.aio calls in its own process.

Used when h2load is missing or cannot talk to the server. Run as a script so it
has its own interpreter and GIL; it needs only grpcio and prints one JSON line::

    python grpc_load.py HOST:PORT FRAME_FILE CONCURRENCY DURATION_S [METHOD]

The frame file is the h2load body (5-byte gRPC prefix + PredictRequest); the
prefix is stripped and the message sent as raw bytes. Being Python, it saturates
before a fast server does, so the table marks its cells.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


async def closed_loop(
    target: str, message: bytes, concurrency: int, duration_s: float, method: str = PREDICT_METHOD
) -> dict:
    """Run ``concurrency`` callers on one channel until the deadline; counts and latencies."""
    import grpc

    latencies: list[float] = []
    errors = [0]
    async with grpc.aio.insecure_channel(target) as channel:
        predict = channel.unary_unary(method)
        await predict(message, timeout=30)  # connect and warm before the clock starts
        deadline = time.perf_counter() + duration_s

        async def caller() -> None:
            while (began := time.perf_counter()) < deadline:
                try:
                    await predict(message, timeout=30)
                except grpc.aio.AioRpcError:
                    errors[0] += 1
                    continue
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"latencies_s": latencies, "elapsed_s": elapsed, "errors": errors[0]}


def main(argv: list[str]) -> int:
    target, frame_path, concurrency, duration_s, *method = argv
    message = Path(frame_path).read_bytes()[5:]
    result = asyncio.run(closed_loop(target, message, int(concurrency), float(duration_s), *method))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
