"""Adding and removing models at run time, through HandleReloadConfigRequest and
through an edited ``--model_config_file``, while another model serves continuous
REST and gRPC traffic that must see no error at all."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.support.paths import tfserving_model
from tests.support.server_process import ServerProcess, running_server
from tests.support.serving_processes import (
    WORKERS,
    grpc_channel_on_each_process,
    rest_on_each_process,
    worker_pid,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_S = 30.0
STEADY = "steady"
"""The model that serves traffic throughout; never touched by a reload."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def config_text(entries: list[tuple[str, Path]]) -> str:
    blocks = [
        f'  config {{ name: "{name}" base_path: "{path}" model_platform: "tensorflow" }}'
        for name, path in entries
    ]
    return "model_config_list {\n" + "\n".join(blocks) + "\n}\n"


def write_config(path: Path, entries: list[tuple[str, Path]]) -> None:
    """Replace the file in one rename so the poller never reads half a config."""
    partial = path.with_suffix(".partial")
    partial.write_text(config_text(entries))
    os.replace(partial, path)


def reload_request(entries: list[tuple[str, Path]]) -> model_management_pb2.ReloadConfigRequest:
    request = model_management_pb2.ReloadConfigRequest()
    for name, path in entries:
        model = request.config.model_config_list.config.add()
        model.name = name
        model.base_path = str(path)
        model.model_platform = "tensorflow"
    return request


def grpc_predict(stub: prediction_service_pb2_grpc.PredictionServiceStub, name: str) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    tensor = request.inputs["x"]
    tensor.dtype = 1  # DT_FLOAT
    tensor.tensor_shape.dim.add().size = 1
    tensor.float_val.append(1.0)
    return float(stub.Predict(request, timeout=TIMEOUT_S).outputs["y"].float_val[0])


class SteadyTraffic:
    """Threads that predict on ``STEADY`` over REST and gRPC until stopped, recording
    every failure. Thread-safe: counters are guarded by one lock."""

    def __init__(self, server: ServerProcess, threads_per_protocol: int = 2) -> None:
        self._server = server
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.ok = {"rest": 0, "grpc": 0}
        self.errors: list[str] = []
        self._threads = [
            threading.Thread(target=target, daemon=True)
            for target in [self._rest] * threads_per_protocol + [self._grpc] * threads_per_protocol
        ]

    def __enter__(self) -> SteadyTraffic:
        for thread in self._threads:
            thread.start()
        wait_until(lambda: min(self.ok.values()) > 0, timeout=TIMEOUT_S, what="traffic flowing")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT_S)

    def _record(self, protocol: str, error: str | None) -> None:
        with self._lock:
            if error is None:
                self.ok[protocol] += 1
            else:
                self.errors.append(f"{protocol}: {error}")

    def _rest(self) -> None:
        body = {"instances": [1.0]}
        while not self._stop.is_set():
            try:
                status, answer = self._server.post(f"/v1/models/{STEADY}:predict", body)
                ok = status == 200 and json.loads(answer) == {"predictions": [2.5]}
                self._record("rest", None if ok else f"{status} {answer!r}")
            except Exception as exc:  # a transport failure is exactly what we count
                self._record("rest", repr(exc))

    def _grpc(self) -> None:
        with grpc.insecure_channel(self._server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set():
                try:
                    value = grpc_predict(stub, STEADY)
                    self._record("grpc", None if value == 2.5 else f"answer {value}")
                except grpc.RpcError as exc:
                    self._record("grpc", f"{exc.code()} {exc.details()}")

    def assert_clean(self) -> None:
        assert self.errors == []
        assert min(self.ok.values()) > 0, self.ok


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    return {
        STEADY: tfserving_model("saved_model_half_plus_two_cpu"),
        "added": tfserving_model("saved_model_half_plus_three"),
    }


def initial_config(tmp_path: Path, models: dict[str, Path]) -> Path:
    path = tmp_path / "models.config"
    write_config(path, [(STEADY, models[STEADY])])
    return path


def is_served(server: ServerProcess, name: str) -> bool:
    return "AVAILABLE" in server.model_states(name).values()


def is_gone(server: ServerProcess, name: str) -> bool:
    return "AVAILABLE" not in server.model_states(name).values()


@pytest.fixture(scope="module", params=WORKERS)
def rpc_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    models: dict[str, Path],
) -> Iterator[ServerProcess]:
    config = initial_config(tmp_path_factory.mktemp("rpc"), models)
    with running_server(f"--model_config_file={config}", workers=request.param) as server:
        yield server


@pytest.fixture
def channels(rpc_server: ServerProcess) -> Iterator[dict[int, grpc.Channel]]:
    """A channel to each of the server's processes, by pid."""
    with grpc_channel_on_each_process(rpc_server) as by_pid:
        yield by_pid


@pytest.fixture
def channel(rpc_server: ServerProcess, channels: dict[int, grpc.Channel]) -> grpc.Channel:
    """The channel the reloads go through: a transport worker's when there is one,
    so a reload is forwarded to the model process (with one process, its own)."""
    return channels[worker_pid(rpc_server, set(channels))]


def answers_everywhere(server: ServerProcess, name: str) -> set[int]:
    """The REST predict status of ``name`` through each of the server's processes."""
    path = f"/v1/models/{name}:predict"
    return {
        status
        for status, _ in rest_on_each_process(server, "POST", path, {"instances": [1.0]}).values()
    }


def health(channel: grpc.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=service)
    return int(stub.Check(request, timeout=TIMEOUT_S).status)


def test_reload_rpc_adds_and_removes_models_under_traffic(
    rpc_server: ServerProcess,
    models: dict[str, Path],
    tmp_path: Path,
    channels: dict[int, grpc.Channel],
    channel: grpc.Channel,
) -> None:
    """Every process sees each change (predicts, gRPC health) as soon as the reload
    answers, whichever process took the reload."""
    steady = (STEADY, models[STEADY])
    added = ("added", models["added"])
    with SteadyTraffic(rpc_server) as traffic:
        model_service = model_service_pb2_grpc.ModelServiceStub(channel)
        prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        request = reload_request([steady, added])
        request.metric_names.append("/tensorflow/cc/saved_model/load_attempt_count")
        response = model_service.HandleReloadConfigRequest(request, timeout=TIMEOUT_S)
        assert response.status.error_code == 0
        # The counter of load attempts grew by the one load the reload caused.
        [metric] = response.metric
        assert metric.name == "/tensorflow/cc/saved_model/load_attempt_count"
        assert metric.int64_value_increase == 1
        # The reload answers once the new model is available, on every process.
        for each in channels.values():
            stub = prediction_service_pb2_grpc.PredictionServiceStub(each)
            assert grpc_predict(stub, "added") == 3.5
            wait_until(lambda each=each: health(each, "added") == SERVING, timeout=TIMEOUT_S)
        assert answers_everywhere(rpc_server, "added") == {200}

        response = model_service.HandleReloadConfigRequest(
            reload_request([steady]), timeout=TIMEOUT_S
        )
        assert response.status.error_code == 0
        wait_until(lambda: is_gone(rpc_server, "added"), timeout=TIMEOUT_S, what="unload")
        for each in channels.values():
            stub = prediction_service_pb2_grpc.PredictionServiceStub(each)
            with pytest.raises(grpc.RpcError) as caught:
                grpc_predict(stub, "added")
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            wait_until(lambda each=each: health(each, "added") == NOT_SERVING, timeout=TIMEOUT_S)
        assert answers_everywhere(rpc_server, "added") == {404}

        # TF Serving hangs here forever; we answer promptly with the reason.
        missing = tmp_path / "no_such_model"
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            model_service.HandleReloadConfigRequest(
                reload_request([steady, ("missing", missing)]), timeout=TIMEOUT_S
            )
        assert time.monotonic() - started < 10
        assert caught.value.code() == grpc.StatusCode.UNKNOWN
        details = caught.value.details() or ""
        assert details.startswith("1 model(s) did not become available: {")
        assert f"Could not find base path {missing} for servable missing" in details

        with pytest.raises(grpc.RpcError) as caught:
            model_service.HandleReloadConfigRequest(
                reload_request([steady, steady]), timeout=TIMEOUT_S
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == (
            f"Illegal to list model {STEADY} multiple times in config list"
        )
        # A model added again after its removal is loaded afresh before the reload answers.
        response = model_service.HandleReloadConfigRequest(
            reload_request([steady, added]), timeout=TIMEOUT_S
        )
        assert response.status.error_code == 0
        assert grpc_predict(prediction, "added") == 3.5
        # Traffic ran through every reload above; prove it is still flowing.
        served_before = sum(traffic.ok.values())
        wait_until(lambda: sum(traffic.ok.values()) > served_before + 10, timeout=TIMEOUT_S)
    traffic.assert_clean()
    assert is_served(rpc_server, STEADY)


def test_reload_with_a_label_on_an_unavailable_version_changes_nothing(
    rpc_server: ServerProcess, models: dict[str, Path], channel: grpc.Channel
) -> None:
    # TF Serving checks the labels of models already served before it touches the
    # model list, so a rejected reload neither adds nor removes a model.
    request = reload_request([(STEADY, models[STEADY]), ("rejected", models["added"])])
    request.config.model_config_list.config[0].version_labels["stable"] = 999
    model_service = model_service_pb2_grpc.ModelServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        model_service.HandleReloadConfigRequest(request, timeout=TIMEOUT_S)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == (
        f"Request to assign label to version 999 of model {STEADY}, "
        "which is not currently available for inference"
    )
    assert rpc_server.model_states("rejected") == {}
    assert is_served(rpc_server, STEADY)


@pytest.fixture(params=WORKERS)
def polling_server(
    request: pytest.FixtureRequest, tmp_path: Path, models: dict[str, Path]
) -> Iterator[ServerProcess]:
    config = initial_config(tmp_path, models)
    with running_server(
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1",
        workers=request.param,
    ) as server:
        yield server


def test_edited_config_file_adds_and_removes_models_under_traffic(
    polling_server: ServerProcess, models: dict[str, Path], tmp_path: Path
) -> None:
    config = tmp_path / "models.config"
    steady = (STEADY, models[STEADY])
    with SteadyTraffic(polling_server) as traffic:
        write_config(config, [steady, ("added", models["added"])])
        wait_until(lambda: is_served(polling_server, "added"), timeout=TIMEOUT_S, what="load")
        answers = rest_on_each_process(
            polling_server, "POST", "/v1/models/added:predict", {"instances": [1.0]}
        )
        assert [(status, json.loads(body)) for status, body in answers.values()] == [
            (200, {"predictions": [3.5]})
        ] * polling_server.workers

        write_config(config, [steady])
        wait_until(lambda: is_gone(polling_server, "added"), timeout=TIMEOUT_S, what="unload")
        assert answers_everywhere(polling_server, "added") == {404}

        # A duplicate name is rejected with TF Serving's message; the old config stays.
        config.write_text(config_text([steady, steady]))
        wait_until(
            lambda: (
                f"Illegal to list model {STEADY} multiple times in config list"
                in polling_server.log()
            ),
            timeout=TIMEOUT_S,
            what="duplicate-name rejection in the log",
        )
        # A model whose base path is missing is reported, and the poller moves on.
        missing = tmp_path / "no_such_model"
        write_config(config, [steady, ("missing", missing)])
        wait_until(
            lambda: f"Could not find base path {missing}" in polling_server.log(),
            timeout=TIMEOUT_S,
            what="missing base path reported",
        )
        # ... and a later edit still takes effect.
        write_config(config, [steady, ("added", models["added"])])
        wait_until(lambda: is_served(polling_server, "added"), timeout=TIMEOUT_S, what="reload")
        served_before = sum(traffic.ok.values())
        wait_until(lambda: sum(traffic.ok.values()) > served_before + 10, timeout=TIMEOUT_S)
    traffic.assert_clean()
