"""ModelService.GetModelStatus and HandleReloadConfigRequest through the official stubs."""

from __future__ import annotations

import asyncio
from typing import TypeAlias

import grpc
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from tensorserve.grpc.model_service import ModelService
from tests.grpc.conftest import MODEL, ServerHarness

Stub: TypeAlias = model_service_pb2_grpc.ModelServiceStub
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END


def status_request(name: str = MODEL, **spec: object) -> get_model_status_pb2.GetModelStatusRequest:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if "version" in spec:
        request.model_spec.version.value = spec["version"]  # type: ignore[assignment]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]  # type: ignore[assignment]
    return request


def rows(response: get_model_status_pb2.GetModelStatusResponse) -> list[tuple[int, int, int, str]]:
    return [
        (s.version, s.state, s.status.error_code, s.status.error_message)
        for s in response.model_version_status
    ]


def rpc_error(call: object, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)  # type: ignore[operator]
    return info.value


def test_status_lists_every_version_newest_first(models: Stub) -> None:
    response = models.GetModelStatus(status_request(), timeout=10)
    assert rows(response) == [(3, AVAILABLE, 0, ""), (2, AVAILABLE, 0, ""), (1, END, 0, "")]


def test_status_of_one_version(models: Stub) -> None:
    response = models.GetModelStatus(status_request(version=2), timeout=10)
    assert rows(response) == [(2, AVAILABLE, 0, "")]


def test_status_ignores_the_version_label(models: Stub) -> None:
    response = models.GetModelStatus(status_request(label="stable"), timeout=10)
    assert [s.version for s in response.model_version_status] == [3, 2, 1]


def test_status_of_a_failed_version_carries_its_error(models: Stub) -> None:
    response = models.GetModelStatus(status_request("broken"), timeout=10)
    assert rows(response) == [(7, END, 5, "no such file")]  # 5 = NOT_FOUND


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            get_model_status_pb2.GetModelStatusRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Missing ModelSpec",
        ),
        (
            status_request("nope"),
            grpc.StatusCode.NOT_FOUND,
            "Could not find any versions of model nope",
        ),
        (
            status_request(version=9),
            grpc.StatusCode.NOT_FOUND,
            "Could not find version 9 of model half_plus_two",
        ),
    ],
)
def test_status_errors(
    models: Stub,
    request_: get_model_status_pb2.GetModelStatusRequest,
    code: grpc.StatusCode,
    message: str,
) -> None:
    error = rpc_error(models.GetModelStatus, request_)
    assert (error.code(), error.details()) == (code, message)


def reload_request(
    *names: str, metric_names: tuple[str, ...] = ()
) -> model_management_pb2.ReloadConfigRequest:
    request = model_management_pb2.ReloadConfigRequest(metric_names=metric_names)
    for name in names:
        request.config.model_config_list.config.add(
            name=name, base_path=f"/models/{name}", model_platform="tensorflow"
        )
    return request


def test_reload_delegates_the_config_and_reports_metric_deltas(
    models: Stub, harness: ServerHarness
) -> None:
    request = reload_request("a", "b", metric_names=("reload_count", "no_such_metric"))
    response = models.HandleReloadConfigRequest(request, timeout=10)
    assert response.status.error_code == 0
    assert [(m.name, m.int64_value_increase) for m in response.metric] == [("reload_count", 3)]
    assert harness.reloads[-1] == request.config


def test_reload_reports_deltas_of_metrics_read_asynchronously() -> None:
    """A transport worker (``--num_workers``) reads the counters from the model process."""
    counters = {"reload_count": 5}

    async def reload(_config: model_server_config_pb2.ModelServerConfig) -> None:
        counters["reload_count"] += 1

    async def metric_value(name: str) -> int | None:
        await asyncio.sleep(0)
        return counters.get(name)

    service = ModelService(None, reload, metric_value)  # type: ignore[arg-type]
    request = reload_request("a", metric_names=("reload_count", "no_such_metric"))
    response = asyncio.run(service.HandleReloadConfigRequest(request, None))  # type: ignore[arg-type]
    assert [(m.name, m.int64_value_increase) for m in response.metric] == [("reload_count", 1)]


def test_failed_reload_is_the_rpc_status(models: Stub) -> None:
    error = rpc_error(models.HandleReloadConfigRequest, reload_request("bad"))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "Illegal to list model bad multiple times in config list",
    )


@pytest.mark.parametrize(
    "config",
    [
        model_server_config_pb2.ModelServerConfig(),
        model_server_config_pb2.ModelServerConfig(custom_model_config={}),
    ],
)
def test_reload_accepts_only_a_model_config_list(
    models: Stub, config: model_server_config_pb2.ModelServerConfig
) -> None:
    error = rpc_error(
        models.HandleReloadConfigRequest, model_management_pb2.ReloadConfigRequest(config=config)
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ServerModelConfig type not supported by HandleReloadConfigRequest. "
        "Only ModelConfigList is currently supported",
    )
