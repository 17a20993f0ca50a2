"""What one composition hop costs: a Python servable that only forwards to half_plus_two.

One server serves half_plus_two (the SavedModel) and ``forward``, a Python servable
whose predict is ``context.models.predict("half_plus_two", inputs)``. wrk drives each
over TensorFlow Serving REST at the same concurrency, interleaved, in the same run; the
server's CPU time per answer is read from its process tree. The hop's cost is the
difference; the goal is under 50 µs of server CPU per request::

    python benchmarks/composition_hop.py [--duration 4] [--rounds 3] [--concurrency 8]

The load generator shares the machine's cores with the server: read the difference,
not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import cpu, models, processes, tools, wrk

GOAL_US = 50.0
FORWARD = """
import tensorserve

ANY = tensorserve.TensorSpec("float32", None)

class Forward(tensorserve.Servable):
    signatures = {"serving_default": tensorserve.Signature(inputs={"x": ANY}, outputs={"y": ANY})}

    def predict(self, inputs, context):
        return context.models.predict("half_plus_two", inputs)
"""
TARGETS = ("half_plus_two", "forward")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--concurrency", type=int, default=8, help="wrk connections")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="tensorserve-hop-") as tmp:
        work_dir = Path(tmp)
        wrk_tool = tools.debian_tool("wrk", "wrk", work_dir / "install.log")
        if not wrk_tool.available:
            print(f"wrk is not available: {wrk_tool.reason}", file=sys.stderr)
            return 1
        config = _write_models(work_dir)
        results = _measure(wrk_tool.path, work_dir, config, args)
    _print(results, args)
    return 0


def _write_models(work_dir: Path) -> Path:
    half_plus_two = models.half_plus_two(work_dir)
    forward = work_dir / "forward" / "1"
    forward.mkdir(parents=True)
    (forward / "servable.py").write_text(FORWARD)
    config = work_dir / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'config {{ name: "half_plus_two" base_path: "{half_plus_two.base_path}" '
        'model_platform: "tensorflow" }\n'
        f'config {{ name: "forward" base_path: "{forward.parent}" model_platform: "python" }}\n'
        "}\n"
    )
    return config


def _measure(
    wrk_path: str, work_dir: Path, config: Path, args: argparse.Namespace
) -> dict[str, list[tuple[float, float]]]:
    """Per target, (requests/s, server CPU µs per request) for each round."""
    rest_port, grpc_port = processes.free_port(), processes.free_port()
    url = f"http://127.0.0.1:{rest_port}"
    command = [
        sys.executable,
        "-m",
        "tensorserve",
        "serve",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_config_file={config}",
    ]
    body = json.dumps({"instances": [1.0]}).encode()
    script = wrk.write_script(work_dir / "post.lua", body)
    results: dict[str, list[tuple[float, float]]] = {target: [] for target in TARGETS}
    ready = processes.http_ready(f"{url}/v1/models/forward")
    with processes.running("tensorserve", command, ready, work_dir / "server.log") as server:
        for target in TARGETS:  # both answer, and the same
            status, answer = processes.http_call(f"{url}/v1/models/{target}:predict", body)
            if status != 200 or json.loads(answer) != {"predictions": [2.5]}:
                raise SystemExit(f"{target} answered {status} {answer[:200]!r}")
            wrk.run(wrk_path, f"{url}/v1/models/{target}:predict", script, 2, 1.0, target, "warm")
        for _ in range(args.rounds):
            for target in TARGETS:
                before = cpu.process_tree_cpu_s(server.pid) or 0.0
                started = time.monotonic()
                cell = wrk.run(
                    wrk_path,
                    f"{url}/v1/models/{target}:predict",
                    script,
                    args.concurrency,
                    args.duration,
                    target,
                    "REST",
                )
                elapsed = time.monotonic() - started
                used = (cpu.process_tree_cpu_s(server.pid) or 0.0) - before
                answered = cell.requests_per_s * min(elapsed, args.duration)
                if cell.errors or answered <= 0:
                    raise SystemExit(f"{target}: {cell.errors} errors, {answered:.0f} answers")
                results[target].append((cell.requests_per_s, used / answered * 1e6))
    return results


def _print(results: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    print(
        f"{os.cpu_count()} cores shared by wrk and the server; TensorFlow Serving REST, "
        f"concurrency {args.concurrency}, median of {args.rounds} interleaved rounds of "
        f"{args.duration:g} s\n"
    )
    print(f"{'target':<16}{'req/s':>10}{'server CPU us/req':>20}")
    medians = {}
    for target, cells in results.items():
        rate = statistics.median(c[0] for c in cells)
        cost = statistics.median(c[1] for c in cells)
        medians[target] = cost
        print(f"{target:<16}{rate:>10,.0f}{cost:>20,.0f}")
    hop = medians["forward"] - medians["half_plus_two"]
    verdict = "meets" if hop < GOAL_US else "misses"
    goal = f"{verdict} the {GOAL_US:g} us goal"
    print(f"\ncomposition hop: {hop:,.0f} us of server CPU per request ({goal})")


if __name__ == "__main__":
    sys.exit(main())
