"""Run the real web app process (``python -m tensorserve.webapp``, gunicorn) on a free port.

The in-process test client skips what only a real server shows: HTTP framing, the worker
process's memory, and several requests at once. Tests that need those use this.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from tests.support.waiting import wait_until

LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


@dataclasses.dataclass
class WebAppProcess:
    """A running gunicorn master with its workers, and where it listens."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def worker(self) -> psutil.Process:
        """The one worker process (the app is started with ``--workers 1`` here)."""
        children = psutil.Process(self.process.pid).children()
        assert len(children) == 1, children
        return children[0]

    def send_raw(self, data: bytes, timeout: float = 10.0) -> bytes:
        """Send ``data`` as is on a new connection and return every byte of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@contextlib.contextmanager
def running_webapp(server_url: str, images_dir: Path, *args: str) -> Iterator[WebAppProcess]:
    """``python -m tensorserve.webapp`` with one worker, until the block ends (then SIGTERM)."""
    log_path = images_dir.parent / f"webapp-{os.getpid()}-{id(images_dir)}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "tensorserve.webapp",
        "--server-url",
        server_url,
        "--port",
        "0",
        "--images-dir",
        str(images_dir),
        "--workers",
        "1",
        *args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:

        def listening_port() -> str | None:
            if process.poll() is not None:
                raise RuntimeError(f"web app exited with {process.returncode}")
            found = LISTENING.search(log_path.read_text(errors="replace"))
            return found.group(1) if found else None

        port = int(wait_until(listening_port, timeout=60, what="gunicorn to listen"))
        webapp = WebAppProcess(process, port, log_path)
        wait_until(
            lambda: httpx.get(f"{webapp.url}/healthz", timeout=5).status_code == 200,
            timeout=60,
            what="the web app's /healthz",
        )
        yield webapp
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
