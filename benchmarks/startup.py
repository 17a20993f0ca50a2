"""Launch-to-AVAILABLE time and resident memory of a half_plus_two server.

For each configuration - half_plus_two as a SavedModel, and as ``model.onnx`` - starts
``tensorserve serve`` ``--runs`` times, measures from ``Popen`` to the first status
answer saying AVAILABLE, then reads the process's resident set (``VmRSS``) and which
heavy packages it imported (from ``/proc/<pid>/maps``: their shared objects mapped, or
none). Medians are printed. One machine, one run: a ratio, not a promise.

    PYTHONPATH=src .venv/bin/python benchmarks/startup.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness.models import half_plus_two
from harness.processes import free_port

MODEL = "half_plus_two"


def write_onnx_half_plus_two(version_dir: Path) -> Path:
    """``y = 0.5 * x + 2`` as ONNX (float ``x`` [batch, 1])."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "a"], ["ax"]), helper.make_node("Add", ["ax", "b"], ["y"])],
        "half_plus_two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            numpy_helper.from_array(np.array(0.5, np.float32), "a"),
            numpy_helper.from_array(np.array(2.0, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    version_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(version_dir / "model.onnx"))
    return version_dir.parent


def available(rest_port: int) -> bool:
    url = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            states = json.loads(response.read())["model_version_status"]
    except (OSError, ValueError, KeyError):
        return False
    return any(state["state"] == "AVAILABLE" for state in states)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def heavy_imports(pid: int) -> str:
    maps = Path(f"/proc/{pid}/maps").read_text()
    found = [
        name
        for name, marker in (
            ("tensorflow", "/tensorflow/"),
            ("keras", "/keras/"),
            ("sklearn", "/sklearn/"),
            ("scipy", "/scipy/"),
            ("onnxruntime", "/onnxruntime/"),
        )
        if marker in maps
    ]
    return ",".join(found) or "-"


def one_start(base: Path) -> tuple[float, float, str]:
    rest_port = free_port()
    command = [
        sys.executable, "-m", "tensorserve", "serve", f"--port={free_port()}",
        f"--rest_api_port={rest_port}", f"--model_name={MODEL}", f"--model_base_path={base}",
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        while not available(rest_port):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        return seconds, rss_mb(process.pid), heavy_imports(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    configs = {
        "SavedModel": half_plus_two(work).base_path,
        "ONNX": write_onnx_half_plus_two(work / "onnx" / "1"),
    }
    print("| half_plus_two | launch to AVAILABLE (s) | RSS (MB) | imported |\n|---|---:|---:|---|")
    for name, base in configs.items():
        runs = [one_start(base) for _ in range(args.runs)]
        seconds = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        print(f"| {name} | {seconds:.2f} | {rss:.0f} | {runs[-1][2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
