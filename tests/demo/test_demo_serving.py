"""``tensorserve demo`` end to end: it serves, prints what to do, and Ctrl-C stops it all.

A template-matching stand-in for the trained model (``tests/support/demo_models.py``) is
put in ``model_dir/mnist.keras`` first, so the demo skips training but still exports,
starts the real model server and web app as children, and prints its banner.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.demo_models import write_pretrained_demo_files
from tests.support.server_process import free_port, http_request
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BANNER_END = "Press Ctrl-C to stop."
STARTUP_TIMEOUT_S = 240


class DemoProcess:
    """``tensorserve demo`` running in ``root`` with its output captured in files."""

    def __init__(self, root: Path, grpc_port: int, rest_port: int, web_port: int) -> None:
        self.root = root
        self.stdout_path, self.stderr_path = root / "demo.out", root / "demo.err"
        command = [
            sys.executable,
            "-m",
            "tensorserve",
            "demo",
            f"--root={root}",
            f"--grpc-port={grpc_port}",
            f"--rest-port={rest_port}",
            f"--web-port={web_port}",
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
        with self.stdout_path.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                command, cwd=root, env=env, stdout=stdout, stderr=stderr
            )

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def banner_printed(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"demo exited with {self.process.returncode}:\n{self.stderr()}")
        return BANNER_END in self.stdout()

    def stop(self) -> int:
        """Ctrl-C; returns the exit code (kills it if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[DemoProcess, int, int, int]]:
    write_pretrained_demo_files(tmp_path)
    ports = free_port(), free_port(), free_port()
    demo = DemoProcess(tmp_path, *ports)
    try:
        yield (demo, *ports)
    finally:
        children = _children(demo.process.pid)
        demo.stop()
        for child in psutil.wait_procs(children, timeout=30)[1]:
            child.kill()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def test_demo_serves_prints_a_working_curl_line_and_stops_on_ctrl_c(
    demo: tuple[DemoProcess, int, int, int],
) -> None:
    process, grpc_port, rest_port, web_port = demo

    wait_until(process.banner_printed, timeout=STARTUP_TIMEOUT_S, interval=0.2, what="banner")
    banner = process.stdout()
    web_page = http_request("GET", f"http://127.0.0.1:{web_port}/", timeout=30)
    web_models = http_request("GET", f"http://127.0.0.1:{web_port}/api/models", timeout=30)
    curl_line = next(line.strip() for line in banner.splitlines() if "curl " in line)
    classified = subprocess.run(
        ["bash", "-c", curl_line], cwd=process.root, capture_output=True, text=True, timeout=60
    )
    children = _children(process.process.pid)
    exit_code = process.stop()

    assert f"http://localhost:{web_port}/" in banner
    assert f"http://localhost:{rest_port}/v1/models/mnist" in banner
    assert f"localhost:{grpc_port}" in banner
    assert web_page[0] == 200
    assert web_models[0] == 200
    models = {m["name"]: m for m in json.loads(web_models[1])["models"]}
    assert sorted(models) == ["digits", "mnist"]  # the CNN and the Python servable on it
    for model in models.values():
        assert [v["state"] for v in model["versions"]] == ["AVAILABLE"]
    assert "predict_images/samples/7.png" in curl_line
    assert classified.returncode == 0, classified.stderr
    (result,) = json.loads(classified.stdout)["results"]
    assert max(result, key=lambda pair: pair[1])[0] == "7"
    assert exit_code == 0, process.stderr()
    assert children, "the demo runs the server and the web app as children"
    assert psutil.wait_procs(children, timeout=30)[1] == []
    assert "Stopped." in process.stderr()
    for port in (rest_port, web_port):
        with pytest.raises(OSError):
            http_request("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)
