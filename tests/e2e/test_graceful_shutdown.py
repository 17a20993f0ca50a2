"""SIGTERM under load (16 keep-alive REST and 4 gRPC client threads): every request
the server accepted is answered, and the process exits 0 within a bounded time.

The model spins a ``tf.while_loop`` for as many steps as the request asks, so
requests are really inside the server when the signal arrives. Each client
thread records every request's start, end and outcome. A request may be
refused (no connection, or a health-checking gRPC client that no longer picks a
NOT_SERVING server); one that reached the server must succeed.
"""

from __future__ import annotations

import dataclasses
import enum
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.server_process import ServerProcess, running_server
from tests.support.serving_processes import WORKERS, client_connections_by_pid, server_pids
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "spin"
EXIT_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
LONG_REQUEST_S = 0.3
SHORT_REQUEST_S = 0.01
DRAIN_DELAY_S = 1.0
REST_CLIENTS = 16
GRPC_CLIENTS = 4


def write_spin_model(path: Path) -> Path:
    """Export ``serving_default``: float ``x`` and int ``steps`` -> ``y == x``, after
    ``steps`` rounds of a 128x128 matmul, so a request takes as long as asked."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape=[None], name="x")
        steps = v1.placeholder(tf.int32, shape=[], name="steps")
        weights = tf.eye(128) * 0.5

        def spin(i: Any, m: Any) -> tuple[Any, Any]:
            return i + 1, tf.tanh(tf.matmul(m, weights))

        _, matrix = tf.while_loop(
            lambda i, _m: i < steps, spin, [tf.constant(0), tf.ones([128, 128])]
        )
        y = tf.add(x, 0.0 * matrix[0, 0], name="y")
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"x": x, "steps": steps}, outputs={"y": y}
        )
        with v1.Session(graph=graph) as session:
            builder = v1.saved_model.Builder(os.fspath(path))
            builder.add_meta_graph_and_variables(
                session,
                [v1.saved_model.tag_constants.SERVING],
                signature_def_map={"serving_default": signature},
            )
            builder.save()
    return path


#: Client-side round-robin with gRPC health checking: the channel stops picking a
#: server whose overall health entry ("") is NOT_SERVING, as a load balancer would.
_HEALTH_CHECKED = [
    (
        "grpc.service_config",
        json.dumps(
            {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
        ),
    )
]
#: UNAVAILABLE details of RPCs the client never sent (no server would take them).
_NEVER_SENT = ("failed to connect", "connection refused", "not_serving", "health")


class Outcome(enum.Enum):
    OK = "ok"
    REFUSED = "refused at connect time"
    FAILED = "failed after being accepted"


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    protocol: str
    started: float
    ended: float
    outcome: Outcome
    detail: str = ""


class LoadClients:
    """Client threads on both protocols sending spin requests until the server
    refuses them. Thread-safe: records are appended under one lock."""

    def __init__(self, server: ServerProcess, steps: int, *, grpc_health_checks: bool) -> None:
        self._server = server
        self._steps = steps
        self._grpc_options = _HEALTH_CHECKED if grpc_health_checks else []
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self.records: list[RequestRecord] = []
        self.stop = threading.Event()
        targets: list[Callable[[int], None]] = [self._rest] * REST_CLIENTS
        targets += [self._grpc] * GRPC_CLIENTS
        self._threads = [
            threading.Thread(target=target, args=(index,), daemon=True)
            for index, target in enumerate(targets)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S)
        assert not any(t.is_alive() for t in self._threads), "a client thread hung"

    def all_in_flight_since(self, seconds: float) -> bool:
        """Every client has had a request open for at least ``seconds``."""
        now = time.monotonic()
        with self._lock:
            starts = list(self._started.values())
        return len(starts) == len(self._threads) and all(now - s >= seconds for s in starts)

    def _begin(self, index: int) -> float:
        started = time.monotonic()
        with self._lock:
            self._started[index] = started
        return started

    def _end(self, index: int, record: RequestRecord) -> None:
        with self._lock:
            self._started.pop(index, None)
            self.records.append(record)

    def _rest(self, index: int) -> None:
        """One keep-alive connection, reused until the server closes it; then a new one."""
        body = json.dumps({"inputs": {"x": [1.0], "steps": self._steps}})
        connection: http.client.HTTPConnection | None = None
        try:
            while not self.stop.is_set():
                if connection is None:
                    connection = http.client.HTTPConnection(
                        "127.0.0.1", self._server.rest_port, timeout=REQUEST_TIMEOUT_S
                    )
                started = self._begin(index)
                outcome, detail, reusable = self._rest_once(connection, body)
                self._end(index, RequestRecord("rest", started, time.monotonic(), outcome, detail))
                if outcome is not Outcome.OK:
                    return
                if not reusable:
                    connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    def _rest_once(connection: http.client.HTTPConnection, body: str) -> tuple[Outcome, str, bool]:
        if connection.sock is None:
            try:
                connection.connect()
            except ConnectionRefusedError as exc:
                return Outcome.REFUSED, repr(exc), False
        try:
            connection.request("POST", f"/v1/models/{MODEL}:predict", body)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:  # reset, closed unanswered, ...
            return Outcome.FAILED, repr(exc), False
        reusable = not response.will_close
        if response.status == 200 and json.loads(answer) == {"outputs": [1.0]}:
            return Outcome.OK, "", reusable
        return Outcome.FAILED, f"{response.status} {answer!r}", reusable

    def _grpc(self, index: int) -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["x"].dtype = 1  # DT_FLOAT
        request.inputs["x"].tensor_shape.dim.add().size = 1
        request.inputs["x"].float_val.append(1.0)
        request.inputs["steps"].dtype = 3  # DT_INT32
        request.inputs["steps"].int_val.append(self._steps)
        target = self._server.grpc_target
        with grpc.insecure_channel(target, options=self._grpc_options) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self.stop.is_set():
                started = self._begin(index)
                outcome, detail = self._grpc_once(stub, request)
                self._end(index, RequestRecord("grpc", started, time.monotonic(), outcome, detail))
                if outcome is not Outcome.OK:
                    return

    @staticmethod
    def _grpc_once(
        stub: prediction_service_pb2_grpc.PredictionServiceStub,
        request: predict_pb2.PredictRequest,
    ) -> tuple[Outcome, str]:
        try:
            response = stub.Predict(request, timeout=REQUEST_TIMEOUT_S)
        except grpc.RpcError as exc:
            detail = f"{exc.code()} {exc.details()}"
            refused = exc.code() == grpc.StatusCode.UNAVAILABLE and any(
                text in detail.lower() for text in _NEVER_SENT
            )
            return (Outcome.REFUSED if refused else Outcome.FAILED), detail
        if list(response.outputs["y"].float_val) == [1.0]:
            return Outcome.OK, ""
        return Outcome.FAILED, str(response)


def steps_for(server: ServerProcess, seconds: float) -> int:
    """How many spin steps take about ``seconds`` on this machine right now."""
    probe_steps = 1000
    body = {"inputs": {"x": [1.0], "steps": probe_steps}}
    server.post(f"/v1/models/{MODEL}:predict", body)  # the first run pays one-off costs
    started = time.monotonic()
    status, answer = server.post(f"/v1/models/{MODEL}:predict", body)
    assert status == 200, answer
    per_step = (time.monotonic() - started) / probe_steps
    return max(200, min(20000, int(seconds / per_step)))


@dataclasses.dataclass
class Shutdown:
    records: list[RequestRecord]
    signalled: float
    exit_code: int
    exited_after: float
    ready_while_draining: int | None
    log: str
    holding_connections: int
    """How many server processes held client connections when the signal came."""
    left_running: list[int]
    """Server processes (transport workers) still running after the server exited."""

    def summary(self) -> str:
        counts = {o: sum(r.outcome is o for r in self.records) for o in Outcome}
        return ", ".join(f"{n} {o.name.lower()}" for o, n in counts.items())

    def failures(self) -> list[RequestRecord]:
        """Requests that failed though they reached the server. A refusal (no
        connection, or a client that health-checks leaving a NOT_SERVING server) never
        reached it; the client's own clock may place it a moment before the signal."""
        return [r for r in self.records if r.outcome is Outcome.FAILED]


def sigterm_under_load(
    model_base: Path,
    request_s: float,
    *flags: str,
    wait_in_flight_s: float,
    health_checks: bool,
    workers: int,
) -> Shutdown:
    """Serve the spin model, load it from every client, SIGTERM it, record everything."""
    with running_server(
        f"--model_name={MODEL}", f"--model_base_path={model_base}", *flags, workers=workers
    ) as server:
        clients = LoadClients(
            server, steps_for(server, request_s), grpc_health_checks=health_checks
        )
        clients.start()
        ready_while_draining = None
        try:
            wait_until(lambda: clients.all_in_flight_since(wait_in_flight_s), 60, what="load")
            pids = server_pids(server)
            holding = len(client_connections_by_pid(server, server.rest_port))
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            if "--drain_delay_seconds" in " ".join(flags):
                wait_until(lambda: server.get("/readyz", timeout=5)[0] == 503, 5, what="503")
                ready_while_draining = 503
            try:
                exit_code = server.process.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"server still running {EXIT_TIMEOUT_S}s after SIGTERM")
            exited_after = time.monotonic() - signalled
        finally:
            clients.join()
        log = server.log()
    left = sorted(pid for pid in pids if psutil.pid_exists(pid))
    return Shutdown(
        clients.records,
        signalled,
        exit_code,
        exited_after,
        ready_while_draining,
        log,
        holding,
        left,
    )


@pytest.mark.parametrize("workers", WORKERS)
def test_sigterm_answers_every_request_in_flight_and_exits_zero(
    tmp_path: Path, workers: int
) -> None:
    """Every client is inside a long request when the signal comes (no drain delay):
    each of those is answered, by whichever process took its connection (with a
    transport worker, both hold some). Without a drain delay a client's *next*
    request can still race the ports closing (gRPC's core cancels an RPC that
    arrives as it shuts down); the next test shows the drain delay that removes
    that race."""
    write_spin_model(tmp_path / MODEL / "1")
    run = sigterm_under_load(
        tmp_path / MODEL,
        LONG_REQUEST_S,
        wait_in_flight_s=0.05,
        health_checks=False,
        workers=workers,
    )

    print(f"SIGTERM, no drain delay: {run.summary()}")
    assert run.exit_code == 0, run.log[-3000:]
    assert run.exited_after < EXIT_TIMEOUT_S
    in_flight = [r for r in run.records if r.started < run.signalled - 0.04 < r.ended]
    assert len(in_flight) == REST_CLIENTS + GRPC_CLIENTS, in_flight
    assert [r for r in in_flight if r.outcome is not Outcome.OK] == [], run.log[-3000:]
    assert run.holding_connections == workers
    assert "Server stopped cleanly" in run.log
    assert "Exiting without waiting" not in run.log  # every thread ended
    assert run.left_running == []


@pytest.mark.parametrize("workers", WORKERS)
def test_sigterm_under_steady_short_requests_loses_none_with_a_drain_delay(
    tmp_path: Path, workers: int
) -> None:
    """Issue 15's case: requests of ~10 ms arrive all the time, so some reach the
    server as it stops. Readiness flips first; gRPC clients that health-check
    (as load balancers do) stop sending, REST connections close after each
    response; then the ports close and nothing accepted is lost."""
    write_spin_model(tmp_path / MODEL / "1")
    run = sigterm_under_load(
        tmp_path / MODEL,
        SHORT_REQUEST_S,
        f"--drain_delay_seconds={DRAIN_DELAY_S}",
        "--shutdown_timeout_seconds=20",
        wait_in_flight_s=0.0,
        health_checks=True,
        workers=workers,
    )

    print(f"SIGTERM, {DRAIN_DELAY_S}s drain delay: {run.summary()}")
    assert run.exit_code == 0, run.log[-3000:]
    assert run.ready_while_draining == 503
    assert DRAIN_DELAY_S <= run.exited_after < DRAIN_DELAY_S + EXIT_TIMEOUT_S
    served_while_draining = [
        r for r in run.records if r.started > run.signalled and r.outcome is Outcome.OK
    ]
    assert {r.protocol for r in served_while_draining} == {"rest"}, "gRPC clients left at once"
    assert run.failures() == [], run.log[-3000:]
    assert run.holding_connections == workers
    assert run.left_running == []
