"""gRPC load with ``h2load``: one HTTP/2 connection per concurrent client, one stream
each (``-m 1``), POSTing a prebuilt gRPC frame.

h2load prints no percentiles, so per-request times come from its ``--log-file``
(tab-separated: start time µs, HTTP status, µs to the end of the response).
h2load sees only the HTTP status (always 200 for gRPC), so the caller checks
one answer's grpc-status with a real client first. h2load *appends* to its log
file, so each run removes the file first: a cell timed again in a later round
would otherwise count the earlier rounds' requests too (round 3 read as 3x).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .grpc_requests import PREDICT_METHOD
from .measurement import Measurement, from_latencies

FINISHED = re.compile(r"finished in ([\d.]+)(m?s),")
REQUESTS = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded")


def run(
    h2load: str,
    host_port: str,
    frame: Path,
    concurrency: int,
    duration_s: float,
    model: str,
    target: str,
    log_dir: Path,
    method: str = PREDICT_METHOD,
    prefix: Sequence[str] = (),
) -> Measurement:
    """Drive ``host_port``'s ``method`` (TF Serving's Predict unless given) for
    ``duration_s`` with ``concurrency`` clients; ``prefix`` goes before the command
    (``taskset -c 1`` pins the load generator).
    Blocks; returns successful requests per second and p50/p99."""
    log_file = log_dir / f"h2load-{model}-{target.replace(' ', '_')}-c{concurrency}.tsv"
    log_file.unlink(missing_ok=True)  # h2load appends: keep only this run's rows
    command = [
        *prefix,
        h2load,
        f"--duration={max(1, round(duration_s))}",
        f"--clients={concurrency}",
        f"--threads={min(2, concurrency)}",
        "--max-concurrent-streams=1",
        f"--data={frame}",
        "--header=content-type: application/grpc",
        "--header=te: trailers",
        f"--log-file={log_file}",
        f"http://{host_port}{method}",
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    finished = FINISHED.search(completed.stdout)
    counts = REQUESTS.search(completed.stdout)
    if completed.returncode != 0 or finished is None or counts is None:
        reason = (completed.stderr or completed.stdout).strip().splitlines()[-1:]
        return Measurement.missing(model, target, concurrency, f"h2load failed: {reason}")
    elapsed_s = float(finished.group(1)) / (1e3 if finished.group(2) == "ms" else 1.0)
    latencies: list[float] = []
    for row in log_file.read_text().splitlines():
        _start, status, elapsed_us = row.split("\t")[:3]
        if status.startswith("2"):
            latencies.append(int(elapsed_us) / 1e6)
    done, succeeded = int(counts.group(3)), int(counts.group(4))
    return from_latencies(
        model, target, concurrency, latencies, elapsed_s, done - succeeded, "h2load"
    )
