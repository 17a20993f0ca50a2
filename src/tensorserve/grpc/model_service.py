"""``tensorflow.serving.ModelService`` on grpc.aio: version status and config reloads.

GetModelStatus reads the data plane's state monitor (``version_label`` is
ignored, as in TF Serving). HandleReloadConfigRequest delegates to the
``reload_config`` coroutine the composition root supplies, and reports its
result both in ``response.status`` and as the gRPC status. Call from the
event loop.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable

import grpc

from tensorserve.core.errors import Code, InvalidArgument, ServingError, as_serving_error
from tensorserve.dataplane import DataPlane
from tensorserve.grpc.proto_conversion import fill_model_version_status
from tensorserve.grpc.status import abort_with_error
from tensorserve.protos.tfserving import (
    get_model_status_pb2,
    model_management_pb2,
    model_server_config_pb2,
)

ReloadConfig = Callable[[model_server_config_pb2.ModelServerConfig], Awaitable[None]]
"""Applies a new ModelServerConfig; raises ``ServingError`` on failure."""

MetricValue = Callable[[str], "int | Awaitable[int | None] | None"]
"""The current value of a named counter, or None when there is no such counter; or
an awaitable of it (a transport worker asks the model process, which counts)."""

logger = logging.getLogger(__name__)


class ModelService:
    """GetModelStatus and HandleReloadConfigRequest.

    ``metric_value`` (optional) lets a reload report how much each counter in
    ``metric_names`` grew across it; without it no metrics are reported.
    """

    def __init__(
        self,
        dataplane: DataPlane,
        reload_config: ReloadConfig,
        metric_value: MetricValue | None = None,
    ) -> None:
        self._dataplane = dataplane
        self._reload_config = reload_config
        self._metric_value = metric_value

    async def GetModelStatus(
        self,
        request: get_model_status_pb2.GetModelStatusRequest,
        context: grpc.aio.ServicerContext,
    ) -> get_model_status_pb2.GetModelStatusResponse:
        try:
            if not request.HasField("model_spec"):
                raise InvalidArgument("Missing ModelSpec")
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            states = self._dataplane.model_status(spec.name, version)
        except ServingError as error:
            await abort_with_error(context, error)
        response = get_model_status_pb2.GetModelStatusResponse()
        fill_model_version_status(response, states)
        return response

    async def HandleReloadConfigRequest(
        self,
        request: model_management_pb2.ReloadConfigRequest,
        context: grpc.aio.ServicerContext,
    ) -> model_management_pb2.ReloadConfigResponse:
        before = await self._metric_values(request.metric_names)
        error: ServingError | None = None
        try:
            if request.config.WhichOneof("config") != "model_config_list":
                raise InvalidArgument(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest."
                    " Only ModelConfigList is currently supported"
                )
            await self._reload_config(request.config)
        except Exception as exc:
            error = as_serving_error(exc)
            logger.error("ServerCore::ReloadConfig failed: %s", error.message)
        response = model_management_pb2.ReloadConfigResponse()
        after = await self._metric_values(request.metric_names)
        for name, value in after.items():
            if name in before:
                response.metric.add(name=name, int64_value_increase=value - before[name])
        response.status.error_code = int(error.code if error else Code.OK)
        if error is not None:
            # As in TF Serving the status is also the RPC's, so gRPC drops the body.
            response.status.error_message = error.message
            await abort_with_error(context, error)
        return response

    async def _metric_values(self, names: Iterable[str]) -> dict[str, int]:
        if self._metric_value is None:
            return {}
        values = {}
        for name in names:
            value = self._metric_value(name)
            if inspect.isawaitable(value):
                value = await value
            if value is not None:
                values[name] = value
        return values
