"""Serve the prepared demo: the model server, then (once the model is up) the web app.

Both run as child processes, exactly as a user would start them by hand, so the
demo exercises the real commands. Ctrl-C or SIGTERM stops both cleanly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from tensorserve.demo.setup import DemoPaths

STARTUP_TIMEOUT_S = 300.0


@dataclasses.dataclass(frozen=True, slots=True)
class DemoPorts:
    grpc: int = 8500
    rest: int = 8501
    web: int = 8080


def serve_demo(paths: DemoPaths, ports: DemoPorts | None = None) -> int:
    """Run the server and the web app until interrupted; returns the exit code."""
    ports = ports or DemoPorts()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    monitoring = _write_monitoring_config(paths.serving_base)
    server_cmd = [
        sys.executable, "-m", "tensorserve", "serve",
        f"--port={ports.grpc}", f"--rest_api_port={ports.rest}",
        f"--model_name={paths.model_name}",
        f"--model_base_path={(paths.serving_base / paths.model_name).resolve()}",
        f"--monitoring_config_file={monitoring}",
    ]
    rest_url = f"http://127.0.0.1:{ports.rest}"
    web_cmd = [
        sys.executable, "-m", "tensorserve", "webapp",
        f"--server-url={rest_url}", f"--port={ports.web}",
        f"--images-dir={(paths.root / 'predict_images').resolve()}",
    ]
    with _child(server_cmd, "model server") as server:
        _progress(f"Starting the model server (gRPC :{ports.grpc}, REST :{ports.rest}) ...")
        if not _wait(lambda: _model_available(rest_url, paths.model_name), server, stop):
            return 1 if server.poll() is not None else 0
        with _child(web_cmd, "web app") as web:
            _progress(f"Model '{paths.model_name}' is AVAILABLE; starting the web app ...")
            web_url = f"http://127.0.0.1:{ports.web}"
            if not _wait(lambda: _answers(f"{web_url}/healthz"), web, stop):
                return 1 if web.poll() is not None else 0
            print(_banner(paths, ports), flush=True)
            while not stop.wait(0.5):
                for proc, what in ((server, "model server"), (web, "web app")):
                    if proc.poll() is not None:
                        print(f"The {what} exited with code {proc.returncode}.", file=sys.stderr)
                        return 1
    _progress("Stopped.")
    return 0


def _banner(paths: DemoPaths, ports: DemoPorts) -> str:
    samples = sorted(paths.samples_dir.glob("*.png"))
    sample = samples[0].relative_to(paths.root) if samples else Path("digit.png")
    return "\n".join([
        "",
        "tensorserve demo is running:",
        f"  web app        http://localhost:{ports.web}/",
        f"  REST API       http://localhost:{ports.rest}/v1/models/{paths.model_name}",
        f"  gRPC API       localhost:{ports.grpc}",
        f"  metrics        http://localhost:{ports.rest}/monitoring/prometheus/metrics",
        "",
        "Classify an image file with curl:",
        f"  curl -s -X POST http://localhost:{ports.rest}/v1/models/{paths.model_name}:classify"
        f" -d \"{{\\\"examples\\\": [{{\\\"image/encoded\\\": {{\\\"b64\\\": "
        f"\\\"$(base64 -w0 {sample})\\\"}}}}]}}\"",
        "",
        "Press Ctrl-C to stop.",
    ])


def _write_monitoring_config(serving_base: Path) -> Path:
    path = serving_base / "monitoring.config"
    path.write_text(
        'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'
    )
    return path.resolve()


@contextlib.contextmanager
def _child(cmd: list[str], what: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            _progress(f"Stopping the {what} ...")
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(ready: Callable[[], bool], proc: subprocess.Popen[bytes], stop: threading.Event) -> bool:
    """Wait until ``ready()``; False if the process died, we were stopped, or time ran out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not stop.is_set() and time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"{proc.args[3]} exited with code {proc.returncode}.", file=sys.stderr)
            return False
        if ready():
            return True
        stop.wait(0.25)
    return False


def _model_available(rest_url: str, name: str) -> bool:
    body = _get(f"{rest_url}/v1/models/{name}")
    if body is None:
        return False
    states = json.loads(body).get("model_version_status", [])
    return any(s.get("state") == "AVAILABLE" for s in states)


def _answers(url: str) -> bool:
    return _get(url) is not None


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read() if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
