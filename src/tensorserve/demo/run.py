"""Serve the prepared demo: the model server, then (once the model is up) the web app.

Both run as child processes, exactly as a user would start them by hand, so the
demo exercises the real commands. Ctrl-C or SIGTERM stops both cleanly. ``serve_demo``
installs SIGINT/SIGTERM handlers, so call it from the main thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
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
STOP_TIMEOUT_S = 30.0
CURL_SAMPLE = "7.png"
"""The sample digit the printed curl line sends (the first one if it is missing)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DemoPorts:
    """Where the demo listens: the model server's gRPC and REST ports, the web app's port."""

    grpc: int = 8500
    rest: int = 8501
    web: int = 8080


def serve_demo(paths: DemoPaths, ports: DemoPorts | None = None) -> int:
    """Run the server and the web app until interrupted; returns the exit code
    (0 when stopped by a signal, 1 when a child failed or did not come up)."""
    ports = ports or DemoPorts()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rest_url = f"http://127.0.0.1:{ports.rest}"
    web_url = f"http://127.0.0.1:{ports.web}"
    with _child(_server_command(paths, ports), "model server") as server:
        _progress(f"Starting the model server (gRPC :{ports.grpc}, REST :{ports.rest}) ...")
        if not _wait(lambda: _model_available(rest_url, paths.model_name), server, stop):
            return 0 if stop.is_set() else 1
        with _child(_web_command(paths, ports), "web app") as web:
            _progress(f"Model '{paths.model_name}' is AVAILABLE; starting the web app ...")
            if not _wait(lambda: _answers(f"{web_url}/healthz"), web, stop):
                return 0 if stop.is_set() else 1
            print(_banner(paths, ports), flush=True)
            while not stop.wait(0.5):
                for child in (server, web):
                    if child.process.poll() is not None:
                        _progress(f"The {child.what} exited with code {child.process.returncode}.")
                        return 1
    _progress("Stopped.")
    return 0


def classify_curl_command(paths: DemoPaths, ports: DemoPorts) -> str:
    """A shell line that sends a sample digit to ``:classify`` (the ``classify``
    signature); the image path is relative to the working directory when below it."""
    samples = paths.sample_images()
    preferred = paths.samples_dir / CURL_SAMPLE
    sample = preferred if preferred in samples or not samples else samples[0]
    image = shlex.quote(str(_display_path(sample)))
    body = (
        '{"signature_name": "classify", '
        f'"examples": [{{"image/encoded": {{"b64": "$(base64 -w0 {image})"}}}}]}}'
    )
    url = f"http://localhost:{ports.rest}/v1/models/{paths.model_name}:classify"
    escaped = body.replace('"', '\\"')
    return f'curl -s {url} -d "{escaped}"'


@dataclasses.dataclass(frozen=True)
class _Child:
    process: subprocess.Popen[bytes]
    what: str


def _server_command(paths: DemoPaths, ports: DemoPorts) -> list[str]:
    monitoring = _write_monitoring_config(paths.serving_base)
    return [
        sys.executable,
        "-m",
        "tensorserve",
        "serve",
        f"--port={ports.grpc}",
        f"--rest_api_port={ports.rest}",
        f"--model_config_file={_write_model_config(paths)}",
        f"--monitoring_config_file={monitoring}",
    ]


def _write_model_config(paths: DemoPaths) -> Path:
    """Serve ``mnist`` and, when present, the ``digits`` Python servable that calls it."""
    models = [(paths.model_name, "tensorflow")]
    if (paths.digits_dir / "servable.py").exists():
        models.append((paths.digits_dir.parent.name, "python"))
    entries = "".join(
        f'  config {{ name: "{name}" '
        f'base_path: "{(paths.serving_base / name).resolve()}" model_platform: "{platform}" }}\n'
        for name, platform in models
    )
    path = paths.serving_base / "models.config"
    path.write_text(f"model_config_list {{\n{entries}}}\n", encoding="utf-8")
    return path


def _web_command(paths: DemoPaths, ports: DemoPorts) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tensorserve",
        "webapp",
        f"--server-url=http://127.0.0.1:{ports.rest}",
        f"--port={ports.web}",
        f"--images-dir={(paths.root / 'predict_images').resolve()}",
    ]


def _banner(paths: DemoPaths, ports: DemoPorts) -> str:
    return "\n".join(
        [
            "",
            "tensorserve demo is running:",
            f"  web app        http://localhost:{ports.web}/",
            f"  REST API       http://localhost:{ports.rest}/v1/models/{paths.model_name}",
            f"  gRPC API       localhost:{ports.grpc}",
            f"  metrics        http://localhost:{ports.rest}/monitoring/prometheus/metrics",
            "",
            "Classify an image file with curl:",
            f"  {classify_curl_command(paths, ports)}",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


def _display_path(path: Path) -> Path:
    absolute = path.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve())
    except ValueError:
        return absolute


def _write_monitoring_config(serving_base: Path) -> Path:
    path = serving_base / "monitoring.config"
    path.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n')
    return path.resolve()


@contextlib.contextmanager
def _child(cmd: list[str], what: str) -> Iterator[_Child]:
    """Start ``cmd``; on exit, SIGTERM it (the children drain) and wait, killing if stuck."""
    process = subprocess.Popen(cmd)
    try:
        yield _Child(process, what)
    finally:
        if process.poll() is None:
            _progress(f"Stopping the {what} ...")
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait(ready: Callable[[], bool], child: _Child, stop: threading.Event) -> bool:
    """Wait until ``ready()``; False if the child died, we were stopped, or time ran out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not stop.is_set():
        if child.process.poll() is not None:
            _progress(f"The {child.what} exited with code {child.process.returncode}.")
            return False
        if ready():
            return True
        if time.monotonic() > deadline:
            _progress(f"The {child.what} did not come up within {STARTUP_TIMEOUT_S:.0f} s.")
            return False
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
