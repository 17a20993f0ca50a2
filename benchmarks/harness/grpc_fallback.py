"""Run :mod:`grpc_load` in a separate process and turn its output into a Measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .measurement import Measurement, from_latencies

GRPC_LOAD_SCRIPT = Path(__file__).with_name("grpc_load.py")


def run(
    host_port: str,
    frame: Path,
    concurrency: int,
    duration_s: float,
    model: str,
    target: str,
    method: str = "/tensorflow.serving.PredictionService/Predict",
) -> Measurement:
    """Closed-loop gRPC load from a Python grpc.aio process on ``method``. Blocks for
    ``duration_s``."""
    completed = subprocess.run(
        [
            sys.executable,
            str(GRPC_LOAD_SCRIPT),
            host_port,
            str(frame),
            str(concurrency),
            str(duration_s),
            method,
        ],
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    if completed.returncode != 0:
        reason = completed.stderr.strip().splitlines()[-1:]
        return Measurement.missing(model, target, concurrency, f"grpc.aio load failed: {reason}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return from_latencies(
        model,
        target,
        concurrency,
        result["latencies_s"],
        result["elapsed_s"],
        result["errors"],
        "grpc.aio (Python)",
    )
