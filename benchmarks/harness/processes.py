"""Start a server process on free ports, wait until it answers, and stop it.

Each server runs in its own session (process group), so stopping it also stops
the workers it forked (gunicorn, MLServer) and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

SERVER_START_TIMEOUT_S = 120.0


class ServerFailed(RuntimeError):
    """A server exited or never became ready; the message ends with its log tail."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1, never one this process handed
    out before (two binds in a row can get the same port from the kernel, and a server
    started with one port for gRPC and REST serves no REST)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def http_call(
    url: str,
    body: bytes | None = None,
    timeout_s: float = 30.0,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """GET (or POST ``body``) ``url``; the status and body, also for 4xx/5xx answers."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def running(
    name: str,
    command: Sequence[str],
    ready: Callable[[], bool],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends; yield once ``ready()`` is true.

    Raises ServerFailed if the process exits first or is not ready within
    ``SERVER_START_TIMEOUT_S``. Stops the whole process group on exit.
    """
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        _wait_ready(name, process, ready, log_path)
        yield process
    finally:
        _stop(process)


def http_ready(url: str) -> Callable[[], bool]:
    """A readiness probe: ``url`` answers 200."""

    def probe() -> bool:
        try:
            return http_call(url, timeout_s=2.0)[0] == 200
        except OSError:
            return False

    return probe


def log_tail(log_path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(
    name: str, process: subprocess.Popen[bytes], ready: Callable[[], bool], log_path: Path
) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(
                f"{name} exited with {process.returncode} before it was ready:\n"
                + log_tail(log_path)
            )
        if ready():
            return
        time.sleep(0.25)  # a poll interval under a deadline, not a wait for time itself
    raise ServerFailed(
        f"{name} not ready after {SERVER_START_TIMEOUT_S:.0f} s:\n" + log_tail(log_path)
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
