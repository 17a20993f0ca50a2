"""Large tensors through the model: server CPU per Predict (TF Serving gRPC) and ModelInfer
(V2 gRPC) for half_plus_two on 1 MB and 19 MB of floats in and out, in one run.

Unlike ``grpc_large_answers.py`` (the transport alone, answering cached bytes), each call
here is the whole request path: parse, decode, the model, encode and send. TF Serving's
answers are typed ``float_val`` by default; a server with
``--enable_serialization_as_tensor_content`` answers raw bytes. ``--before-src`` serves
another tree's ``src/`` beside this checkout, so before and after are timed side by side
(rounds interleaved, medians kept). "copies" is the CPU per call over one in-process copy
of the tensor, so it says how many copies' worth of work a call costs::

    python benchmarks/grpc_large_predict.py [--rounds 3] [--before-src OLD/src]
        [--server-flag=--grpc_server=asyncio ...]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
from harness import models
from harness.cpu import one_copy_us, process_tree_cpu_s
from harness.targets import start_tensorserve

SIZES = (1_000_000, 19_267_584)
CALLS_BYTES = 300_000_000
"""Each cell moves about this much one way (at least 5 calls)."""
OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def predict_caller(target: str, rows: int) -> Callable[[], None]:
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tensorserve.tfserving.tensor_proto import ndarray_to_tensor_proto

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    x = np.ones((rows, 1), np.float32)
    ndarray_to_tensor_proto(x, as_tensor_content=True, out=request.inputs["x"])
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(target, options=OPTIONS)
    )

    def call() -> None:
        response = stub.Predict(request, timeout=120)
        if len(response.outputs["y"].float_val or response.outputs["y"].tensor_content) == 0:
            raise RuntimeError(f"{target} answered no y")

    return call


def infer_caller(target: str, rows: int) -> Callable[[], None]:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(target)
    tensor = triton.InferInput("x", [rows, 1], "FP32")
    tensor.set_data_from_numpy(np.ones((rows, 1), np.float32))
    wanted = [triton.InferRequestedOutput("y")]

    def call() -> None:
        result = client.infer("half_plus_two", [tensor], outputs=wanted, client_timeout=120)
        if result.as_numpy("y").shape != (rows, 1):
            raise RuntimeError(f"{target} answered the wrong shape")

    return call


def time_cell(pid: int, call: Callable[[], None], size: int) -> float:
    """Server CPU µs per call of ``call``, after one untimed call."""
    call()
    calls = max(5, CALLS_BYTES // size)
    before = process_tree_cpu_s(pid)
    for _ in range(calls):
        call()
    after = process_tree_cpu_s(pid)
    if before is None or after is None:
        return float("nan")
    return (after - before) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--before-src", help="an older tree's src/, served beside this one")
    parser.add_argument(
        "--server-flag",
        action="append",
        default=[],
        help="a flag for every server, e.g. --server-flag=--grpc_server=asyncio (repeatable)",
    )
    args = parser.parse_args(argv)
    trees = [("this checkout", None)]
    if args.before_src:
        trees.append(("--before-src", str(Path(args.before_src).resolve())))
    results: dict[tuple[str, str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work_dir = Path(tmp)
        model = models.half_plus_two(work_dir)
        cells: list[tuple[str, str, int, Callable[[], None]]] = []
        for index, (tree, src) in enumerate(trees):
            env = {"PYTHONPATH": src} if src else None
            for answers, flags in (("float_val", ()), ("tensor_content", TENSOR_CONTENT)):
                endpoints = stack.enter_context(
                    start_tensorserve(
                        model, work_dir, False, extra_flags=[*flags, *args.server_flag], env=env,
                        label_suffix=f"-{index}-{answers}",
                    )
                )  # fmt: skip
                for size in SIZES:
                    rows = size // 4
                    label = f"TF Serving Predict, {answers} answers"
                    caller = predict_caller(endpoints.grpc_target, rows)
                    cells.append((label, tree, size, _priced(endpoints.pid, caller, size)))
                    if answers == "float_val":
                        caller = infer_caller(endpoints.grpc_target, rows)
                        cells.append(
                            ("V2 ModelInfer", tree, size, _priced(endpoints.pid, caller, size))
                        )
        for round_index in range(args.rounds):
            print(f"round {round_index + 1} of {args.rounds}", file=sys.stderr, flush=True)
            for label, tree, size, timed in cells:
                results.setdefault((label, tree, size), []).append(timed())
    print("\n| call | tensor in and out | server | server CPU ms/call | copies | vs before |")
    print("|---|---:|---|---:|---:|---:|")
    for label, tree, size, _ in cells:
        cpu = statistics.median(results[(label, tree, size)])
        before = results.get((label, "--before-src", size))
        versus = f"{cpu / statistics.median(before):.2f}x" if before else "-"
        print(
            f"| {label} | {size / 1e6:.0f} MB | {tree} | {cpu / 1e3:,.1f} "
            f"| {cpu / one_copy_us(size):.1f} | {versus} |"
        )
    return 0


TENSOR_CONTENT = ("--enable_serialization_as_tensor_content",)


def _priced(pid: int, call: Callable[[], None], size: int) -> Callable[[], float]:
    return lambda: time_cell(pid, call, size)


if __name__ == "__main__":
    sys.exit(main())
