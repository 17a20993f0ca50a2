"""Start the real tensorserve server process on free ports and talk to it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.waiting import GiveUp, wait_until

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free a moment ago on 127.0.0.1 that this process has not handed out before.

    The kernel may hand the same port to two binds in a row (the first probe is closed
    by then: about 1 pair in 10,000 here), and a server given one port as both ``--port``
    and ``--rest_api_port`` serves gRPC alone, as TensorFlow Serving does. A test suite
    starts hundreds of servers, so that was a red run every few dozen.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclasses.dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    grpc_port: int
    rest_port: int
    log_path: Path
    workers: int = 1
    """``--num_workers``: the model process and ``workers - 1`` transport workers."""

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes]:
        return http_request("GET", self.rest_url + path, timeout=timeout)

    def post(
        self,
        path: str,
        body: bytes | dict | str,
        timeout: float = 30,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        return http_request("POST", self.rest_url + path, body, timeout=timeout, headers=headers)

    def model_states(self, name: str) -> dict[int, str]:
        status, body = self.get(f"/v1/models/{name}")
        if status != 200:
            return {}
        return {int(v["version"]): v["state"] for v in json.loads(body)["model_version_status"]}

    def alive(self) -> bool:
        return self.process.poll() is None

    def workers_serving(self) -> bool:
        """Whether every transport worker has opened the ports (always, with one
        process). The model process answers ``/healthz`` before they have."""
        if self.workers <= 1:
            return True
        log = self.log()
        if f"{self.workers - 1} transport workers serving beside this process" in log:
            return True
        if "transport workers started within" in log:
            raise GiveUp(f"transport workers did not start:\n{log}")
        if not self.alive():
            raise GiveUp(f"server exited with {self.process.returncode}:\n{log}")
        return False

    def wait_for_workers(self, timeout: float = 120.0) -> None:
        """Wait until :meth:`workers_serving`, so that every process takes connections."""
        wait_until(self.workers_serving, timeout=timeout, interval=0.1, what="transport workers")


def http_request(
    method: str,
    url: str,
    body: bytes | None = None,
    timeout: float = 30,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def server_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "tensorserve", "serve", *args]


def refused_start(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``tensorserve serve`` with ``args`` on free ports, for a start the server must
    refuse: the finished process, its output as text (the caller checks both)."""
    command = server_command([f"--port={free_port()}", f"--rest_api_port={free_port()}", *args])
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@contextlib.contextmanager
def running_server(
    *args: str,
    env: dict[str, str] | None = None,
    wait_ready: bool = True,
    startup_timeout: float = 120.0,
    ports: tuple[int, int] | None = None,
    workers: int = 1,
) -> Iterator[ServerProcess]:
    """Run ``tensorserve serve`` with ``args`` plus free ``--port``/``--rest_api_port``
    (or the gRPC and REST ``ports`` given, to restart a server where it was), and
    ``--num_workers`` when ``workers`` > 1.

    Yields once the REST port answers ``/healthz`` and every transport worker
    serves; on exit sends SIGTERM and waits for a clean exit, killing the process
    if it hangs.
    """
    grpc_port, rest_port = ports or (free_port(), free_port())
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - must outlive this frame's block
        prefix="tensorserve-", suffix=".log", delete=False
    )
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(env or {})}
    flags = [f"--port={grpc_port}", f"--rest_api_port={rest_port}"]
    if workers > 1:
        flags.append(f"--num_workers={workers}")
    cmd = server_command([*flags, *args])
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=full_env)
    server = ServerProcess(proc, grpc_port, rest_port, Path(log_file.name), workers)
    try:
        if wait_ready:

            def up() -> bool:
                if proc.poll() is not None:
                    raise GiveUp(f"server exited with {proc.returncode}:\n{server.log()}")
                return server.get("/healthz", timeout=2)[0] == 200

            wait_until(up, timeout=startup_timeout, interval=0.1, what="server /healthz")
            server.wait_for_workers(startup_timeout)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _report_hang(server)
                proc.kill()
                proc.wait()
        log_file.close()


def _report_hang(server: ServerProcess) -> None:
    """Print what a server that ignored SIGTERM for 30 s was doing: its log's tail,
    and its threads' stacks where py-spy is installed, so a CI failure says why."""
    print(f"server {server.process.pid} still running 30 s after SIGTERM; its log ends:")
    print(server.log()[-20000:])
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if Path(py_spy).exists():
        dump = subprocess.run(
            [py_spy, "dump", "--native", "--pid", str(server.process.pid)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        print(dump.stdout, dump.stderr)
