"""SIGTERM under load: every request the server accepted is answered, and the
process exits 0 within a bounded time.

The model spins a ``tf.while_loop`` for as many steps as the request asks, so
requests are really inside the server when the signal arrives. Each client
thread records every request's start, end and outcome; requests that began
before the signal must succeed, later ones may only succeed or be refused at
connect time (the listener is closed).
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
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "spin"
EXIT_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
TARGET_REQUEST_S = 0.3
CLIENTS_PER_PROTOCOL = 3


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

    def __init__(self, server: ServerProcess, steps: int) -> None:
        self._server = server
        self._steps = steps
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self.records: list[RequestRecord] = []
        self.stop = threading.Event()
        clients: tuple[Callable[[int], None], ...] = (self._rest, self._grpc)
        targets = [client for client in clients for _ in range(CLIENTS_PER_PROTOCOL)]
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
        body = json.dumps({"inputs": {"x": [1.0], "steps": self._steps}})
        while not self.stop.is_set():
            started = self._begin(index)
            outcome, detail = self._rest_once(body)
            self._end(index, RequestRecord("rest", started, time.monotonic(), outcome, detail))
            if outcome is not Outcome.OK:
                return

    def _rest_once(self, body: str) -> tuple[Outcome, str]:
        connection = http.client.HTTPConnection(
            "127.0.0.1", self._server.rest_port, timeout=REQUEST_TIMEOUT_S
        )
        try:
            try:
                connection.connect()
            except ConnectionRefusedError as exc:
                return Outcome.REFUSED, repr(exc)
            try:
                connection.request("POST", f"/v1/models/{MODEL}:predict", body)
                response = connection.getresponse()
                answer = response.read()
            except OSError as exc:  # reset, closed without an answer, ...
                return Outcome.FAILED, repr(exc)
            if response.status == 200 and json.loads(answer) == {"outputs": [1.0]}:
                return Outcome.OK, ""
            return Outcome.FAILED, f"{response.status} {answer!r}"
        finally:
            connection.close()

    def _grpc(self, index: int) -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["x"].dtype = 1  # DT_FLOAT
        request.inputs["x"].tensor_shape.dim.add().size = 1
        request.inputs["x"].float_val.append(1.0)
        request.inputs["steps"].dtype = 3  # DT_INT32
        request.inputs["steps"].int_val.append(self._steps)
        with grpc.insecure_channel(self._server.grpc_target) as channel:
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
            refused = exc.code() == grpc.StatusCode.UNAVAILABLE and (
                "failed to connect" in detail.lower() or "connection refused" in detail.lower()
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


def test_sigterm_under_load_answers_every_accepted_request_and_exits_zero(
    tmp_path: Path,
) -> None:
    write_spin_model(tmp_path / MODEL / "1")
    with running_server(f"--model_name={MODEL}", f"--model_base_path={tmp_path / MODEL}") as server:
        clients = LoadClients(server, steps_for(server, TARGET_REQUEST_S))
        clients.start()
        try:
            # Every client is inside a request the server has had for a while.
            wait_until(lambda: clients.all_in_flight_since(0.05), timeout=60, what="load")
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            try:
                exit_code = server.process.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"server still running {EXIT_TIMEOUT_S}s after SIGTERM")
            exited_after = time.monotonic() - signalled
        finally:
            clients.join()
        log = server.log()

    assert exit_code == 0, log[-3000:]
    assert exited_after < EXIT_TIMEOUT_S
    before = [r for r in clients.records if r.started < signalled]
    in_flight = [r for r in before if r.ended > signalled]
    assert {r.protocol for r in in_flight} == {"rest", "grpc"}, in_flight
    failed_before = [r for r in before if r.outcome is not Outcome.OK]
    assert failed_before == [], log[-3000:]
    after = [r for r in clients.records if r.started >= signalled]
    failed_after = [r for r in after if r.outcome is Outcome.FAILED]
    assert failed_after == [], log[-3000:]
    assert "Server stopped cleanly" in log
