"""Launch-to-AVAILABLE time and resident memory of a server, per model and configuration.

For each configuration - half_plus_two as a SavedModel and as ``model.onnx``; a
MobileNetV2 (``harness.models.mobilenet_v2``: built, ``tensorserve export``, verified
twin) as a SavedModel, as a SavedModel with ``--prefer_onnx_model`` (its twin checked
and timed against TensorFlow at load) and as its twin alone in ``model.onnx`` - starts
``tensorserve serve`` ``--runs`` times, measures from ``Popen`` to the first status
answer saying AVAILABLE, then reads the process's resident set (``VmRSS``), then
again after ``--predicts`` REST predict calls (the server hands back library pages only
start-up touched, ``code_pages.py``, and serving reads some of them back), its dirty
private memory (``Private_Dirty`` of ``smaps_rollup``: the heap and other written pages,
what each more replica on the node adds; RSS also counts clean pages of shared
libraries, 360 MB of them for TensorFlow's, which replicas share through the page cache,
and which count as private while no other process maps them) and which
heavy packages it imported (from ``/proc/<pid>/maps``: their shared objects mapped, or
none). Medians are printed. One machine, one run: a ratio, not a promise.

    PYTHONPATH=src .venv/bin/python benchmarks/startup.py --runs 3      # ~3 min
    PYTHONPATH=src .venv/bin/python benchmarks/startup.py --model half_plus_two
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness.models import half_plus_two, mobilenet_v2
from harness.processes import free_port

MODEL = "half_plus_two"


@dataclasses.dataclass(frozen=True)
class Config:
    """One way to serve a model: its name, the directory of versions and extra flags."""

    model: str
    name: str
    base: Path
    flags: tuple[str, ...] = ()
    instance: object = dataclasses.field(default_factory=lambda: [1.0])
    """One ``instances`` element of a predict body for the model."""


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


def available(rest_port: int, model: str) -> bool:
    url = f"http://127.0.0.1:{rest_port}/v1/models/{model}"
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            states = json.loads(response.read())["model_version_status"]
    except (OSError, ValueError, KeyError):
        return False
    return any(state["state"] == "AVAILABLE" for state in states)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def private_mib(pid: int) -> float:
    """Written pages only this process holds, in MiB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Private_Dirty:"):
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


def predict(rest_port: int, config: Config, times: int) -> None:
    url = f"http://127.0.0.1:{rest_port}/v1/models/{config.model}:predict"
    body = json.dumps({"instances": [config.instance]}).encode()
    for _ in range(times):
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=60) as answer:
            answer.read()


def one_start(config: Config, predicts: int) -> tuple[float, float, float, float, str]:
    rest_port = free_port()
    command = [
        sys.executable, "-m", "tensorserve", "serve", f"--port={free_port()}",
        f"--rest_api_port={rest_port}", f"--model_name={config.model}",
        f"--model_base_path={config.base}", *config.flags,
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        while not available(rest_port, config.model):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        at_start = rss_mib(process.pid)
        predict(rest_port, config, predicts)
        return (
            seconds,
            at_start,
            rss_mib(process.pid),
            private_mib(process.pid),
            heavy_imports(process.pid),
        )
    finally:
        process.terminate()
        process.wait(timeout=60)


def onnx_only(twin: Path, version_dir: Path) -> Path:
    """A version directory holding only ``twin`` as ``model.onnx`` (the ONNX platform)."""
    version_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(twin, version_dir / "model.onnx")
    return version_dir.parent


def configs(work: Path, models: list[str], mobilenet_size: int) -> list[Config]:
    found = []
    if MODEL in models:
        found += [
            Config(MODEL, "SavedModel", half_plus_two(work).base_path),
            Config(MODEL, "ONNX", write_onnx_half_plus_two(work / "onnx" / "1")),
        ]
    if "mobilenet" in models:
        mobilenet = mobilenet_v2(work, mobilenet_size)
        image = [[[0.5, -0.5, 0.25]] * mobilenet_size] * mobilenet_size
        twin = mobilenet.version_path / "assets.extra" / "onnx" / "serving_default.onnx"
        found += [
            Config(mobilenet.name, "SavedModel", mobilenet.base_path, instance=image),
            Config(
                mobilenet.name,
                "SavedModel + --prefer_onnx_model",
                mobilenet.base_path,
                ("--prefer_onnx_model",),
                image,
            ),
            Config(
                mobilenet.name,
                "ONNX only",
                onnx_only(twin, work / "mobilenet-onnx" / "1"),
                instance=image,
            ),
        ]
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=f"{MODEL},mobilenet", help="half_plus_two, mobilenet")
    parser.add_argument("--mobilenet-size", type=int, default=224, help="image side in pixels")
    parser.add_argument(
        "--predicts", type=int, default=100, help="REST predicts before the second RSS reading"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    print(
        "| model | configuration | launch to AVAILABLE (s) | RSS at AVAILABLE (MiB) "
        f"| RSS after {args.predicts} predicts (MiB) | private dirty (MiB) | imported |\n"
        "|---|---|---:|---:|---:|---:|---|"
    )
    for config in configs(work, args.model.split(","), args.mobilenet_size):
        runs = [one_start(config, args.predicts) for _ in range(args.runs)]
        seconds, rss, served, private = (
            statistics.median(r[column] for r in runs) for column in range(4)
        )
        print(
            f"| {config.model} | {config.name} | {seconds:.2f} | {rss:.0f} | {served:.0f} "
            f"| {private:.0f} | {runs[-1][4]} |",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
