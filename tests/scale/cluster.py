"""Three tensorserve replicas on 127.0.0.11-13 (same ports) behind Debian's HAProxy.

HAProxy proxies REST over HTTP/1.1 and gRPC over h2 and checks each replica's
``/readyz`` every 200 ms, so a replica that turns not ready leaves rotation
before its ports close. :class:`LoadLoop` is a bounded load of REST and gRPC
clients against HAProxy only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.server_process import free_port, http_request, server_command
from tests.support.waiting import wait_until

ADDRESSES = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
MODEL = "half_plus_two"
MAX_FAILURES = 1000
PAUSE_S = 0.005
"""Between one client's requests: air for three replicas on a small shared machine."""
HAPROXY_CONFIG = """\
global
    stats socket {admin} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
frontend rest
    bind 127.0.0.1:{rest}
    default_backend rest
frontend grpc
    bind 127.0.0.1:{grpc} proto h2
    default_backend grpc
backend rest
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 1 rise 2
{rest_servers}
backend grpc
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 1 rise 2
{grpc_servers}
"""


@dataclasses.dataclass
class Replica:
    name: str
    address: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            server_command([f"--listen_address={self.address}", *self.args]),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        log.close()

    def get(self, path: str, rest_port: int) -> tuple[int, bytes]:
        return http_request("GET", f"http://{self.address}:{rest_port}{path}", timeout=5)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@dataclasses.dataclass
class Cluster:
    replicas: list[Replica]
    grpc_port: int
    rest_port: int
    proxy_rest_port: int
    proxy_grpc_port: int
    admin_socket: Path

    def haproxy(self, command: str) -> str:
        """One command on HAProxy's runtime API (its admin socket); returns the answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin_socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def set_state(self, replica: Replica, state: str) -> None:
        """``ready``, ``drain`` or ``maint`` for ``replica`` in both backends."""
        for backend in ("rest", "grpc"):
            answer = self.haproxy(f"set server {backend}/{replica.name} state {state}")
            assert answer.strip() == "", answer

    def sessions(self, replica: Replica) -> int:
        """Requests HAProxy has open to ``replica`` now (``scur`` over both backends)."""
        lines = self.haproxy("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return sum(int(r["scur"] or 0) for r in rows if r.get("svname") == replica.name)

    def ready(self, replica: Replica) -> bool:
        try:
            return replica.get("/readyz", self.rest_port)[0] == 200
        except OSError:
            return False

    def wait_ready(self, replica: Replica) -> None:
        wait_until(lambda: self.ready(replica), timeout=180, interval=0.2, what=replica.name)

    def grpc_requests_served(self, replica: Replica) -> float:
        """gRPC requests this replica answered (its Prometheus request latency count)."""
        _, body = replica.get("/monitoring/prometheus/metrics", self.rest_port)
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if "request_latency_count" in line and 'entrypoint="GRPC"' in line
        )

    def versions(self, replica: Replica) -> dict[int, str]:
        status, body = replica.get(f"/v1/models/{MODEL}", self.rest_port)
        if status != 200:
            return {}
        return {int(v["version"]): v["state"] for v in json.loads(body)["model_version_status"]}


def addresses_usable() -> bool:
    for address in ADDRESSES:
        with socket.socket() as sock:
            try:
                sock.bind((address, 0))
            except OSError:
                return False
    return True


@contextlib.contextmanager
def running_cluster(base_path: Path, workdir: Path, *flags: str) -> Iterator[Cluster]:
    """Three replicas serving ``base_path`` and HAProxy in front, all stopped on exit."""
    grpc_port, rest_port = free_port(), free_port()
    monitoring = workdir / "monitoring.config"
    monitoring.write_text(
        'prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }'
    )
    args = [
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_name={MODEL}",
        f"--model_base_path={base_path}",
        f"--monitoring_config_file={monitoring}",
        "--file_system_poll_wait_seconds=1",
        *flags,
    ]
    replicas = [
        Replica(f"r{i + 1}", address, args, workdir / f"r{i + 1}.log")
        for i, address in enumerate(ADDRESSES)
    ]
    cluster = Cluster(
        replicas, grpc_port, rest_port, free_port(), free_port(), workdir / "admin.sock"
    )
    proxy: subprocess.Popen[bytes] | None = None
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            cluster.wait_ready(replica)
        config = workdir / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                admin=cluster.admin_socket,
                rest=cluster.proxy_rest_port,
                grpc=cluster.proxy_grpc_port,
                rest_servers="\n".join(
                    f"    server {r.name} {r.address}:{rest_port} check" for r in replicas
                ),
                grpc_servers="\n".join(
                    f"    server {r.name} {r.address}:{grpc_port} proto h2"
                    f" check port {rest_port} check-proto h1"
                    for r in replicas
                ),
            )
        )
        proxy = subprocess.Popen(
            ["haproxy", "-f", str(config), "-db"],
            stdout=(workdir / "haproxy.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: (
                http_request(
                    "GET", f"http://127.0.0.1:{cluster.proxy_rest_port}/readyz", timeout=2
                )[0]
                == 200
            ),
            timeout=30,
            what="haproxy",
        )
        yield cluster
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        for replica in replicas:
            if replica.process is not None and replica.process.poll() is None:
                replica.process.kill()
                replica.process.wait()


class LoadLoop:
    """REST and gRPC client threads sending half_plus_two predicts through HAProxy
    until stopped or ``max_requests`` each. Thread-safe counters."""

    def __init__(self, cluster: Cluster, rest_threads: int = 3, grpc_threads: int = 3,
                 max_requests: int = 5000) -> None:  # fmt: skip
        self._cluster = cluster
        self._max = max_requests
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.ok = 0
        self.failures: list[str] = []
        self._threads = [threading.Thread(target=self._rest, daemon=True)
                         for _ in range(rest_threads)]  # fmt: skip
        self._threads += [threading.Thread(target=self._grpc, daemon=True)
                          for _ in range(grpc_threads)]  # fmt: skip

    def __enter__(self) -> LoadLoop:
        for thread in self._threads:
            thread.start()
        wait_until(lambda: self.ok > 50, timeout=30, what="load flowing")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _record(self, failure: str | None) -> None:
        with self._lock:
            if failure is None:
                self.ok += 1
            else:
                self.failures.append(failure)
                if len(self.failures) >= MAX_FAILURES:
                    self._stop.set()  # bounded: enough to show the loss

    def _rest(self) -> None:
        body = json.dumps({"instances": [1.0, 2.0]})
        connection = http.client.HTTPConnection(
            "127.0.0.1", self._cluster.proxy_rest_port, timeout=30
        )
        for _ in range(self._max):
            if self._stop.is_set():
                break
            try:
                connection.request("POST", f"/v1/models/{MODEL}:predict", body)
                response = connection.getresponse()
                answer = response.read()
                ok = response.status == 200 and json.loads(answer) == {"predictions": [2.5, 3.0]}
                self._record(None if ok else f"rest {response.status} {answer[:200]!r}")
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                self._record(f"rest {exc!r}")
                connection.close()
            time.sleep(PAUSE_S)
        connection.close()

    def _grpc(self) -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["x"].dtype = 1
        request.inputs["x"].tensor_shape.dim.add().size = 2
        request.inputs["x"].float_val.extend([1.0, 2.0])
        with grpc.insecure_channel(f"127.0.0.1:{self._cluster.proxy_grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for _ in range(self._max):
                if self._stop.is_set():
                    break
                try:
                    response = stub.Predict(request, timeout=30)
                    ok = list(response.outputs["y"].float_val) == [2.5, 3.0]
                    self._record(None if ok else f"grpc {response}")
                except grpc.RpcError as exc:
                    self._record(f"grpc {exc.code()} {exc.details()}")
                time.sleep(PAUSE_S)
