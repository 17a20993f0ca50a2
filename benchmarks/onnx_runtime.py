"""TensorFlow vs ONNX Runtime for the small MNIST CNN, in-process and served.

Builds ``harness.models.small_cnn`` (seeded weights), adds its verified ONNX twin
with ``tensorserve convert``'s code, then measures images/s at batch 1 and 32:

* in-process: ``SavedModelLoader`` + ``predict`` (the server's TensorFlow call) against
  the same loader wrapped by ``TwinLoader`` (the server's ONNX Runtime call);
* served: one server without and one with ``--prefer_onnx_model``, each called over
  TensorFlow Serving gRPC (a prebuilt ``PredictRequest``) and V2 REST with the binary
  tensor extension (``tritonclient.http``), one client, closed loop.

Every cell is timed ``--duration`` seconds, cells interleaved over ``--rounds`` rounds,
median kept. A ratio from one run on one (shared) machine; nothing asserts a timing.

    PYTHONPATH=src .venv/bin/python benchmarks/onnx_runtime.py --duration 2 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from harness.models import small_cnn
from harness.processes import free_port, http_ready, running

BATCHES = (1, 32)
MODEL = "small_cnn"


def rate(call: Callable[[], Any], images: int, duration_s: float) -> float:
    """Images per second of ``call`` repeated for ``duration_s`` (after one call)."""
    call()
    calls = 0
    started = time.perf_counter()
    while time.perf_counter() - started < duration_s:
        call()
        calls += 1
    return calls * images / (time.perf_counter() - started)


@contextlib.contextmanager
def server(base: Path, work: Path, prefer_onnx: bool) -> Iterator[tuple[str, str]]:
    grpc_port, rest_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "tensorserve", "serve", f"--port={grpc_port}",
        f"--rest_api_port={rest_port}", f"--model_name={MODEL}", f"--model_base_path={base}",
    ]  # fmt: skip
    if prefer_onnx:
        command.append("--prefer_onnx_model")
    log = work / f"server-{'onnx' if prefer_onnx else 'tf'}.log"
    url = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"
    with running(f"tensorserve {prefer_onnx=}", command, http_ready(url), log):
        yield f"127.0.0.1:{grpc_port}", f"127.0.0.1:{rest_port}"


def grpc_call(target: str, batch: np.ndarray) -> Callable[[], Any]:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(batch))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    return lambda: stub.Predict(request, timeout=30)


def v2_binary_call(target: str, batch: np.ndarray) -> Callable[[], Any]:
    import tritonclient.http as triton_http

    client = triton_http.InferenceServerClient(target)
    tensor = triton_http.InferInput("images", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=True)
    output = triton_http.InferRequestedOutput("probabilities", binary_data=True)
    return lambda: client.infer(MODEL, [tensor], outputs=[output])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorserve.core.servable_id import ServableId
    from tensorserve.export.onnx_twins import write_twins
    from tensorserve.platforms.onnx.twin_loader import TwinLoader
    from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader

    work = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    model = small_cnn(work)
    records = write_twins(model.version_path, 1e-4)
    print(f"twin: {records['serving_default']}", file=sys.stderr)
    rng = np.random.default_rng(0)
    batches = {n: rng.random((n, 28, 28, 1)).astype(np.float32) for n in BATCHES}

    plain = SavedModelLoader(ServableId(MODEL, 1), model.version_path)
    plain.load()
    twin = TwinLoader(
        SavedModelLoader(ServableId(MODEL, 1), model.version_path),
        model.version_path,
        require_faster=False,
    )
    twin.load()
    cells: dict[str, Callable[[], Any]] = {}
    for n, batch in batches.items():
        cells[f"in-process TensorFlow, batch {n}"] = lambda b=batch: plain.servable().predict(
            "", {"images": b}
        )
        cells[f"in-process ONNX Runtime, batch {n}"] = lambda b=batch: twin.servable().predict(
            "", {"images": b}
        )
    results: dict[str, list[float]] = {name: [] for name in cells}
    with contextlib.ExitStack() as stack:
        for prefer_onnx in (False, True):
            grpc_target, rest_target = stack.enter_context(
                server(model.base_path, work, prefer_onnx)
            )
            label = "--prefer_onnx_model" if prefer_onnx else "TensorFlow"
            for n, batch in batches.items():
                cells[f"served gRPC, {label}, batch {n}"] = grpc_call(grpc_target, batch)
                cells[f"served V2 binary REST, {label}, batch {n}"] = v2_binary_call(
                    rest_target, batch
                )
        results = {name: [] for name in cells}
        for _ in range(args.rounds):
            for name, call in cells.items():
                n = 32 if name.endswith("batch 32") else 1
                results[name].append(rate(call, n, args.duration))
    twin.unload()
    plain.unload()
    medians = {name: statistics.median(values) for name, values in results.items()}
    print("| cell | images/s | ONNX Runtime / TensorFlow |\n|---|---:|---:|")
    for name, value in medians.items():
        other = name.replace("ONNX Runtime", "TensorFlow").replace(
            "--prefer_onnx_model", "TensorFlow"
        )
        ratio = f"{value / medians[other]:.2f}x" if other != name else ""
        print(f"| {name} | {value:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
