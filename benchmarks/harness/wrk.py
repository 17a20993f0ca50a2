"""REST load with ``wrk``: closed loop, ``-c`` connections, POSTing one body.

A Lua script sets the body and, in ``done``, prints the exact counts and
percentiles as one JSON line, which is parsed rather than wrk's rounded text.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .measurement import Measurement

WRK_MARKER = "WRK_JSON "
WRK_DONE = """\
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "{content_type}"

"""


WRK_FILE_SCRIPT = """\
wrk.method = "POST"
local file = assert(io.open([==[{body_path}]==], "rb"))
wrk.body = file:read("*a")
file:close()
{headers}
"""


def write_binary_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    """Write a script that POSTs ``body`` (any bytes: it is read from a file beside the
    script, since Lua source would mangle line endings) with ``headers``."""
    body_path = path.with_suffix(".body")
    body_path.write_bytes(body)
    header_lines = "\n".join(f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items())
    script = WRK_FILE_SCRIPT.format(body_path=body_path, headers=header_lines)
    path.write_text(script + "\n" + WRK_DONE.format(marker=WRK_MARKER))
    return path


def write_script(path: Path, body: bytes, content_type: str = "application/json") -> Path:
    """Write the Lua script that POSTs ``body`` (which must not contain ``]==]``)."""
    text = body.decode()
    if "]==]" in text:
        raise ValueError("body cannot be embedded in a Lua long string")
    script = WRK_SCRIPT.format(body=text, content_type=content_type)
    path.write_text(script + WRK_DONE.format(marker=WRK_MARKER))
    return path


def run(
    wrk: str,
    url: str,
    script: Path,
    concurrency: int,
    duration_s: float,
    model: str,
    target: str,
    prefix: Sequence[str] = (),
) -> Measurement:
    """Drive ``url`` for ``duration_s`` with ``concurrency`` connections (2 threads at most);
    ``prefix`` goes before the command (``taskset -c 1`` pins the load generator).
    Blocks; returns the successful requests per second and p50/p99."""
    command = [
        *prefix,
        wrk,
        f"-t{min(2, concurrency)}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    line = next((row for row in completed.stdout.splitlines() if row.startswith(WRK_MARKER)), None)
    if completed.returncode != 0 or line is None:
        reason = (completed.stderr or completed.stdout).strip().splitlines()[-1:]
        return Measurement.missing(model, target, concurrency, f"wrk failed: {reason}")
    stats = json.loads(line[len(WRK_MARKER) :])
    errors = sum(stats[key] for key in ("status", "connect", "read", "write", "timeout"))
    good = max(0, stats["requests"] - stats["status"])
    return Measurement(
        model=model,
        target=target,
        concurrency=concurrency,
        requests_per_s=good / (stats["duration_us"] / 1e6),
        p50_ms=stats["p50_us"] / 1e3,
        p99_ms=stats["p99_us"] / 1e3,
        errors=errors,
        load_generator="wrk",
    )
