"""``--num_workers 2``: two processes serve the same ports as one server.

Which process takes a connection is the kernel's choice (SO_REUSEPORT); these
tests find out with psutil (the process holding the accepted socket) and open
connections until they have one to each process they mean to reach.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest

from tests.support import onnx_models
from tests.support.server_process import ServerProcess, free_port, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

WORKERS_SERVING = "transport workers serving beside this process"
MONITORING = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'


def worker_pids(server: ServerProcess) -> list[int]:
    """The transport workers' pids (children of the server process)."""
    children = psutil.Process(server.process.pid).children()
    return [c.pid for c in children if "tensorserve.workers.worker_main" in " ".join(c.cmdline())]


def serving_pid(port: int, client: socket.socket) -> int | None:
    """The pid of the process holding the server end of ``client``'s connection."""
    local = client.getsockname()[1]
    for process in psutil.process_iter():
        try:
            for conn in process.net_connections(kind="tcp"):
                if (
                    conn.laddr
                    and conn.laddr.port == port
                    and conn.raddr
                    and conn.raddr.port == local
                ):
                    return int(process.pid)
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
    return None


def connection_to(
    server: ServerProcess, pid: int, attempts: int = 200
) -> http.client.HTTPConnection:
    """A kept-alive REST connection that the process ``pid`` serves."""
    for _ in range(attempts):
        conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
        conn.request("GET", "/v2/health/live")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert conn.sock is not None
        if serving_pid(server.rest_port, conn.sock) == pid:
            return conn
        conn.close()
    raise AssertionError(f"no connection reached pid {pid} in {attempts} tries")


def predict(conn: http.client.HTTPConnection, xs: list[float]) -> tuple[int, dict[str, object]]:
    body = json.dumps({"instances": [[x] for x in xs]})
    conn.request("POST", "/v1/models/half:predict", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerProcess]:
    onnx_models.write_half_plus_two(tmp_path / "half" / "1")
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text(MONITORING)
    with running_server(
        "--model_name=half",
        f"--model_base_path={tmp_path / 'half'}",
        "--num_workers=2",
        f"--monitoring_config_file={monitoring}",
    ) as server:
        wait_until(lambda: WORKERS_SERVING in server.log(), timeout=60, what="workers")
        yield server


def test_both_processes_answer_rest_and_grpc_alike(two_workers: ServerProcess) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    server = two_workers
    [worker] = worker_pids(server)
    model_process = server.process.pid
    for pid in (model_process, worker):
        conn = connection_to(server, pid)
        status, body = predict(conn, [1.0, 2.0])
        assert (status, body) == (200, {"predictions": [[2.5], [3.0]]})
        # A client's mistake gets the same TF Serving error from either process.
        conn.request("POST", "/v1/models/half:predict", '{"instances": [["a"]]}')
        response = conn.getresponse()
        error = json.loads(response.read())
        assert response.status == 400 and "error" in error
        conn.request("GET", "/v1/models/half")
        status_body = json.loads(conn.getresponse().read())
        assert status_body["model_version_status"][0]["state"] == "AVAILABLE"
        conn.request("GET", "/v2/health/ready")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        # V2 words a missing model as Triton does: the error's class crossed the hop.
        infer = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}
        conn.request("POST", "/v2/models/absent/infer", json.dumps(infer))
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())) == (
            404,
            {"error": "Request for unknown model: 'absent' is not found"},
        )
        conn.close()
    errors = set()
    for _ in range(12):  # new channels: the kernel spreads them over both processes
        with grpc.insecure_channel(server.grpc_target) as channel:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "half"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[4.0]], np.float32)))
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(request, timeout=30)
            assert list(response.outputs["y"].float_val) == [4.0]
            request.model_spec.name = "absent"
            with pytest.raises(grpc.RpcError) as raised:
                stub.Predict(request, timeout=30)
            errors.add((raised.value.code(), raised.value.details()))
    assert errors == {(grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(absent)")}
    maps = Path(f"/proc/{worker}/maps").read_text()
    assert "onnxruntime" not in maps and "/tensorflow/" not in maps  # no model, no runtime


def test_metrics_on_either_process_count_every_request(two_workers: ServerProcess) -> None:
    server = two_workers
    [worker] = worker_pids(server)
    for pid in (server.process.pid, worker):
        conn = connection_to(server, pid)
        for _ in range(5):
            assert predict(conn, [1.0])[0] == 200
        conn.close()
    pages = []
    for pid in (server.process.pid, worker):
        conn = connection_to(server, pid)
        conn.request("GET", "/monitoring/prometheus/metrics")
        response = conn.getresponse()
        assert response.status == 200
        pages.append(response.read().decode())
        conn.close()
    line = ':tensorflow:serving:request_latency_count{model_name="half",API="predict",'
    line += 'entrypoint="REST"} 10'
    assert all(line in page for page in pages), pages[0]


def test_a_killed_worker_is_replaced_and_requests_to_the_other_never_fail(
    two_workers: ServerProcess,
) -> None:
    server = two_workers
    [worker] = worker_pids(server)
    conn = connection_to(server, server.process.pid)
    stop = threading.Event()
    outcomes: list[int] = []

    def load() -> None:
        while not stop.is_set():
            outcomes.append(predict(conn, [1.0, 2.0, 3.0])[0])

    loader = threading.Thread(target=load)
    loader.start()
    try:
        wait_until(lambda: len(outcomes) > 20, timeout=30, what="load before the kill")
        os.kill(worker, signal.SIGKILL)
        wait_until(
            lambda: worker_pids(server) not in ([], [worker]),
            timeout=60,
            what="a new worker",
        )
        [replacement] = worker_pids(server)
        wait_until(lambda: server.log().count(WORKERS_SERVING) >= 1, timeout=30)
        before = len(outcomes)
        wait_until(lambda: len(outcomes) > before + 20, timeout=30, what="load after")
        new_conn = connection_to(server, replacement)
        assert predict(new_conn, [4.0]) == (200, {"predictions": [[4.0]]})
        new_conn.close()
    finally:
        stop.set()
        loader.join(30)
    assert outcomes and set(outcomes) == {200}
    assert "exited with -9; starting it again" in server.log()


def test_model_control_through_a_worker_reaches_every_process(
    two_workers: ServerProcess,
) -> None:
    server = two_workers
    [worker] = worker_pids(server)
    via_worker = connection_to(server, worker)
    via_model = connection_to(server, server.process.pid)
    via_worker.request("POST", "/v2/repository/models/half/unload", "{}")
    response = via_worker.getresponse()
    assert (response.status, response.read()) == (200, b"{}")
    for conn in (via_model, via_worker):
        conn.request("GET", "/v1/models/half")
        response = conn.getresponse()
        body = json.loads(response.read())
        assert body["model_version_status"][0]["state"] == "END"
        conn.request("GET", "/readyz")
        response = conn.getresponse()
        response.read()
        assert response.status == 503
    via_model.request("POST", "/v2/repository/models/half/load", "{}")
    response = via_model.getresponse()
    response.read()
    assert response.status == 200
    wait_until(lambda: predict(via_worker, [0.0]) == (200, {"predictions": [[2.0]]}), timeout=30)
    via_worker.close()
    via_model.close()


def test_a_busy_port_still_fails_the_start(tmp_path: Path) -> None:
    onnx_models.write_half_plus_two(tmp_path / "half" / "1")
    grpc_port, rest_port = free_port(), free_port()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("0.0.0.0", rest_port))
        holder.listen()
        with running_server(
            "--model_name=half",
            f"--model_base_path={tmp_path / 'half'}",
            "--num_workers=2",
            ports=(grpc_port, rest_port),
            wait_ready=False,
        ) as server:
            assert server.process.wait(timeout=60) != 0
            assert "Address already in use" in server.log()


def test_a_stream_through_a_worker_delivers_every_chunk_and_the_error_after_them(
    tmp_path: Path,
) -> None:
    """Server-sent events from a streaming Python servable: the model process runs the
    stream, the worker relays each chunk as it comes, and the servable's error after
    the first chunk arrives in the stream, as with one process."""
    from tests.e2e.test_python_servables import COUNTER, _count_request
    from tests.support.python_servables import write_version

    write_version(tmp_path / "counter", 1, {"servable.py": COUNTER})
    with running_server(
        "--model_name=counter", f"--model_base_path={tmp_path / 'counter'}", "--num_workers=2"
    ) as server:
        wait_until(lambda: WORKERS_SERVING in server.log(), timeout=60, what="workers")
        [worker] = worker_pids(server)
        for pid in (worker, server.process.pid):
            conn = connection_to(server, pid)
            for signature, expected in (("serving_default", 4), ("broken", 2)):
                body = json.dumps(_count_request(4, signature))
                conn.request("POST", "/v2/models/counter/infer_stream", body)
                response = conn.getresponse()
                assert response.status == 200
                text = response.read().decode()
                events = [
                    json.loads(block[len("data: ") :]) for block in text.split("\n\n") if block
                ]
                assert len(events) == expected
                if signature == "broken":
                    assert events[0]["outputs"][0]["data"] == [0]
                    assert events[1] == {
                        "error": "servable 'counter' version 1 raised RuntimeError: lost the thread"
                    }
                else:
                    assert [e["outputs"][0]["data"] for e in events] == [[0], [1], [2], [3]]
            conn.close()
