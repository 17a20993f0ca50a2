"""Resident memory of the --num_workers designs, with a large ONNX model.

The model (``build_model``) is a chain of square MatMuls whose seeded weights total
``megabytes``; nothing is downloaded. Its weights live in an external-data file beside
``model.onnx`` so that a process can also map them instead of reading them.

Child processes (``python -m harness.worker_memory ROLE [MODEL]``, ``benchmarks/`` on
the path) print ``ready`` once settled and exit when their stdin closes:

* ``holder MODEL`` - onnxruntime's session of the model, one inference run: a model
  process, or a worker that loads the models itself;
* ``mapped MODEL`` - the same session with every weight handed to onnxruntime as a
  read-only ``numpy.memmap`` of the external-data file and weight prepacking off, so
  the weights are page-cache pages every such process shares;
* ``transport`` - what a transport-only worker holds: grpc with a started threaded
  server, protobuf and the V2 message classes, numpy, and an asyncio (uvloop)
  server with httptools and orjson imported, on free 127.0.0.1 ports.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]
WEIGHTS_FILE = "weights.bin"
LAYOUT_FILE = "weights.json"


@dataclass(frozen=True)
class Memory:
    """Resident memory of one process, in MiB (Linux ``/proc``)."""

    rss: float  # VmRSS: every page mapped, shared ones included
    pss: float  # proportional: a page shared by k processes counts 1/k
    uss: float  # private pages only: what the process alone adds


def memory_of(pid: int) -> Memory:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    rollup = {
        line.split(":")[0]: int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    }
    private_kb = rollup["Private_Clean"] + rollup["Private_Dirty"]
    return Memory(rss_kb / 1024, rollup["Pss"] / 1024, private_kb / 1024)


def build_model(directory: Path, megabytes: int, seed: int = 0) -> tuple[Path, int]:
    """Write ``model.onnx`` (+ weights.bin): 4 square float32 MatMuls; (path, width)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layers = 4
    width = int((megabytes * 1e6 / layers / 4) ** 0.5) // 64 * 64
    rng = np.random.default_rng(seed)
    weights, nodes = [], []
    for layer in range(layers):
        weight = rng.standard_normal((width, width), dtype=np.float32) / np.float32(width**0.5)
        weights.append(numpy_helper.from_array(weight, f"w{layer}"))
        source = "x" if layer == 0 else f"h{layer}"
        nodes.append(helper.make_node("MatMul", [source, f"w{layer}"], [f"h{layer + 1}"]))
    graph = helper.make_graph(
        nodes,
        "large_matmuls",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info(f"h{layers}", TensorProto.FLOAT, [1, width])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = directory / "model.onnx"
    onnx.save_model(model, path, save_as_external_data=True, location=WEIGHTS_FILE)
    layout = {}  # where each weight lies in weights.bin, for the ``mapped`` role
    for tensor in onnx.load(path, load_external_data=False).graph.initializer:
        entry = {item.key: item.value for item in tensor.external_data}
        layout[tensor.name] = [int(entry.get("offset", 0)), list(tensor.dims)]
    (directory / LAYOUT_FILE).write_text(json.dumps(layout))
    return path, width


def _session(model: str, mapped: bool) -> object:
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    keep = []
    if mapped:
        options.add_session_config_entry("session.disable_prepacking", "1")
        directory = Path(model).parent
        layout = json.loads((directory / LAYOUT_FILE).read_text())
        for name, (offset, shape) in layout.items():
            array = np.memmap(directory / WEIGHTS_FILE, np.float32, "r", offset, tuple(shape))
            value = onnxruntime.OrtValue.ortvalue_from_numpy(array)
            options.add_initializer(name, value)
            keep.append((array, value))
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    width = session.get_inputs()[0].shape[1]
    session.run(None, {"x": np.ones((1, width), np.float32)})
    return session, keep


def _transport() -> object:
    import asyncio
    import threading
    from concurrent import futures

    import grpc
    import httptools  # noqa: F401  (the REST front end's parser)
    import numpy  # noqa: F401
    import orjson  # noqa: F401
    import uvloop
    from google.protobuf import descriptor_pool  # noqa: F401
    from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: F401  (V2 messages)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_insecure_port("127.0.0.1:0")
    server.start()
    loop = uvloop.new_event_loop()
    rest = loop.run_until_complete(loop.create_server(asyncio.Protocol, "127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return server, rest


@contextlib.contextmanager
def running(roles: Sequence[tuple[str, str]]) -> Iterator[list[int]]:
    """Start one child per (role, model) at once; yield their pids once all are ready."""
    env = {**os.environ, "PYTHONPATH": f"{BENCHMARKS_DIR}{os.pathsep}"}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for role, model in roles:
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "harness.worker_memory", role, model],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                )
            )
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"{child.args!r} exited with {child.wait()}")
        yield [child.pid for child in children]
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()  # the child's cue to exit
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _child(role: str, model: str) -> None:
    held = _transport() if role == "transport" else _session(model, mapped=role == "mapped")
    print("ready", flush=True)
    sys.stdin.buffer.read()
    del held


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
