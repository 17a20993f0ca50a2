"""The gRPC front end: PredictionService, ModelService, health and reflection.

Mirrors TF Serving's ``model_servers/server.cc``: listens on ``0.0.0.0:<port>``
and optionally ``unix:<path>``, message size fixed at INT32_MAX both ways,
channel arguments from ``--grpc_channel_arguments``, TLS from ``SSLConfig``.

Two servers carry the same servicers (``GrpcOptions.server``):

* ``threads`` (the default): grpcio's threaded ``grpc.server`` with
  ``--grpc_max_threads`` handler threads, as TF Serving sizes its own. Predict runs
  whole on the thread that took it (``DataPlane.predict_blocking``); the other
  RPCs, written for grpc.aio, run on the event loop through
  :mod:`~tensorserve.grpc.loop_bridge`. An RPC costs about half the server CPU
  of grpc.aio's (``benchmarks/grpc_speed.py``). More RPCs than threads queue; open
  streams do not count (the health Watch is non-blocking, a bridged stream parks
  its thread: :func:`~tensorserve.grpc.handler_pool.parked`).
* ``asyncio``: ``grpc.aio`` on the event loop; ``--grpc_max_threads`` has no
  effect there (no handler threads).

``GrpcOptions.max_concurrent_rpcs`` maps to ``maximum_concurrent_rpcs``: past
that many concurrent RPCs the server answers RESOURCE_EXHAUSTED. The server
leaves it None, so a burst queues rather than failing (a cap of 4 x CPUs would
starve request batching).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tensorserve.config import SslConfig
from tensorserve.config.text_protos import check_ssl_pem
from tensorserve.core.errors import InvalidArgument
from tensorserve.dataplane import DataPlane
from tensorserve.grpc.h2.lifetime import HONOURED, h2_arguments
from tensorserve.grpc.h2.server import H2Server, TlsFiles
from tensorserve.grpc.handler_pool import HandlerPool
from tensorserve.grpc.health_servicer import HealthServicer as ThreadedHealthServicer
from tensorserve.grpc.loop_bridge import LoopBridge
from tensorserve.grpc.model_service import MetricValue, ModelService, ReloadConfig
from tensorserve.grpc.prediction_service import PredictionService, ThreadedPredictionService
from tensorserve.grpc.request_decoding import add_servicer
from tensorserve.grpc.service_handlers import servicer_adder
from tensorserve.protos.tfserving import model_service_pb2, prediction_service_pb2

logger = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1
_PREDICTION_SERVICE = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"]
_MODEL_SERVICE = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"]
PREDICTION_SERVICE = _PREDICTION_SERVICE.full_name
MODEL_SERVICE = _MODEL_SERVICE.full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
V2_INFERENCE_SERVICE = "inference.GRPCInferenceService"
"""The Open Inference Protocol's service (``tensorserve.v2``), imported only when enabled."""

ChannelArgument = tuple[str, "int | str"]
THREADS = "threads"
ASYNCIO = "asyncio"
H2 = "h2"
AnyServer: TypeAlias = "grpc.aio.Server | LoopBridge | H2Server"
"""A server being built: grpc.aio's, the threaded one behind its bridge, or the h2 one."""


@dataclasses.dataclass(frozen=True, slots=True)
class GrpcOptions:
    """Settings of the gRPC front end, parsed from TF Serving's flags by the caller."""

    port: int | None = 8500
    """TCP port on ``host``; 0 lets the OS pick, None listens on no TCP port
    (TF Serving's ``--port=0`` with ``--grpc_socket_path``)."""
    host: str = "0.0.0.0"
    socket_path: str = ""
    """``--grpc_socket_path``: also listen on ``unix:<path>`` when set."""
    channel_arguments: str = ""
    """``--grpc_channel_arguments``: ``key=value,key=value``."""
    max_concurrent_rpcs: int | None = None
    """A cap on concurrent RPCs (see the module docstring); None = no cap."""
    ssl: SslConfig | None = None
    """``--ssl_config_file``; None = plaintext."""
    alts: bool = False
    """``--use_alts_credentials``: Google's ALTS instead of plaintext (grpcio's servers
    only; grpcio offers it only on Google Cloud, so elsewhere the bind fails)."""
    enable_health_service: bool = False
    """``--enable_grpc_healthcheck_service``."""
    enable_reflection: bool = True
    tensor_content_outputs: bool = False
    """``--enable_serialization_as_tensor_content``."""
    enable_v2: bool = True
    """Serve the Open Inference Protocol (``inference.GRPCInferenceService``) too."""
    server: str = THREADS
    """``--grpc_server``: ``threads`` or ``asyncio`` (see the module docstring)."""
    max_threads: int = 8
    """``--grpc_max_threads``: handler threads of the threaded server."""
    reuse_port: bool = False
    """Bind with SO_REUSEPORT, to share the port with ``--num_workers`` workers."""


def parse_channel_arguments(text: str) -> list[ChannelArgument]:
    """``a=1,b=x`` -> ``[("a", 1), ("b", "x")]``; values that parse as int32 become ints,
    surrounding whitespace is dropped, as in TF Serving. Raises ValueError when a
    part has no ``=``."""
    if not text:
        return []
    arguments: list[ChannelArgument] = []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"--grpc_channel_arguments entry {part!r} is not key=value")
        arguments.append((key.strip(), _int32_or_text(value.strip())))
    return arguments


def channel_options(options: GrpcOptions) -> list[ChannelArgument]:
    """Server channel arguments: SO_REUSEPORT off (a busy port fails loudly) unless
    ``--num_workers`` share the port, the user's arguments, then the message size
    limits, which stay at INT32_MAX."""
    merged: dict[str, int | str] = {"grpc.so_reuseport": int(options.reuse_port)}
    merged.update(parse_channel_arguments(options.channel_arguments))
    merged["grpc.max_send_message_length"] = INT32_MAX
    merged["grpc.max_receive_message_length"] = INT32_MAX
    return list(merged.items())


def create_grpc_server(
    dataplane: DataPlane,
    reload_config: ReloadConfig,
    options: GrpcOptions,
    *,
    metric_value: MetricValue | None = None,
    health_servicer: Any = None,
) -> AnyServer:
    """A server of ``options.server``'s kind with every service registered and no
    port bound yet (see :func:`bind_ports`). Call from the event loop, which runs
    the servicers' coroutines. ``health_servicer`` must suit the kind
    (``ThreadedHealthServicer`` for threads, ``health.aio.HealthServicer`` for asyncio)."""
    server: AnyServer
    prediction: PredictionService
    if options.server == THREADS:
        pool = HandlerPool(max(1, options.max_threads))
        threaded = grpc.server(
            pool,
            options=channel_options(options),
            maximum_concurrent_rpcs=options.max_concurrent_rpcs,
        )
        loop = asyncio.get_running_loop()
        server = LoopBridge(threaded, loop, pool)
        prediction = ThreadedPredictionService(
            dataplane, loop, tensor_content_outputs=options.tensor_content_outputs
        )
    else:
        if options.server == H2:
            h2, ignored = h2_arguments(parse_channel_arguments(options.channel_arguments))
            if ignored:
                logger.warning(
                    "--grpc_server=h2 ignores these --grpc_channel_arguments: %s (it honours "
                    "%s; grpcio's servers take the others: --grpc_server=threads or asyncio)",
                    ", ".join(ignored),
                    ", ".join(HONOURED),
                )
            server = H2Server(
                max_concurrent_rpcs=options.max_concurrent_rpcs,
                reuse_port=options.reuse_port or h2.reuse_port,
                max_streams=h2.max_streams,
                lifetime=h2.lifetime,
                keepalive=h2.keepalive,
            )
        else:
            server = grpc.aio.server(
                options=channel_options(options),
                maximum_concurrent_rpcs=options.max_concurrent_rpcs,
            )
        prediction = PredictionService(
            dataplane, tensor_content_outputs=options.tensor_content_outputs
        )
    # Each service through add_servicer: a request that does not parse is INVALID_ARGUMENT.
    add_servicer(server, servicer_adder(_PREDICTION_SERVICE), prediction)
    add_servicer(
        server,
        servicer_adder(_MODEL_SERVICE),
        ModelService(dataplane, reload_config, metric_value),
    )
    names = [PREDICTION_SERVICE, MODEL_SERVICE]
    if serves_v2(options):
        # Imported here, not at the top: the V2 classes cost an import only when served.
        from tensorserve.v2.grpc_service import add_inference_service

        names.append(add_inference_service(server, dataplane))
    if health_servicer is not None:
        add_servicer(server, health_pb2_grpc.add_HealthServicer_to_server, health_servicer)
        names.append(HEALTH_SERVICE)
    if options.enable_reflection:
        # A grpc.aio server gets grpc.aio's servicer; the bridge gets the threaded one.
        reflected = [*names, reflection.SERVICE_NAME]
        if isinstance(server, H2Server):  # runs grpc.aio's servicers
            from grpc_reflection.v1alpha import _async, reflection_pb2_grpc

            reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
                _async.ReflectionServicer(reflected), server
            )
        else:
            reflection.enable_server_reflection(reflected, server)
    return server


def serves_v2(options: GrpcOptions) -> bool:
    """Whether the V2 service is served (its classes come from tensorserve's descriptors,
    so nothing needs installing)."""
    return options.enable_v2


def ssl_server_credentials(config: SslConfig) -> grpc.ServerCredentials:
    """TF Serving's TLS setup: one key/cert pair, ``custom_ca`` to verify clients, and
    ``client_verify`` to require them (which needs ``custom_ca``)."""
    _check_ssl(config)
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() if config.custom_ca else None,
        require_client_auth=config.client_verify,
    )


def _check_ssl(config: SslConfig) -> None:
    """Refuse what TF Serving refuses, whichever server will use ``config``."""
    if config.client_verify and not config.custom_ca:
        raise InvalidArgument("ssl client_verify requires custom_ca to verify clients against")
    check_ssl_pem(config)


def bind_ports(server: AnyServer, options: GrpcOptions) -> int:
    """Listen on the TCP port and the UNIX socket ``options`` name; returns the TCP port
    bound (0 when none). Raises OSError when an address cannot be bound."""
    addresses = []
    if options.port is not None:
        addresses.append(f"{options.host}:{options.port}")
    if options.socket_path:
        addresses.append(f"unix:{options.socket_path}")
    if not addresses:
        raise ValueError("gRPC needs a TCP port or a UNIX socket path")
    add: Callable[[str], int] = server.add_insecure_port
    config = options.ssl
    if options.alts:
        if isinstance(server, H2Server):
            raise ValueError("the h2 server has no ALTS; use one of grpcio's servers")
        add = functools.partial(_add_alts_port, server)
    elif config is not None and isinstance(server, H2Server):
        _check_ssl(config)
        tls = TlsFiles(
            config.server_key, config.server_cert, config.custom_ca, config.client_verify
        )
        add = functools.partial(server.add_secure_port, tls=tls)
    elif config is not None:
        credentials = ssl_server_credentials(config)
        add = functools.partial(_add_secure_port, server, credentials=credentials)
    bound_port = 0
    for address in addresses:
        try:
            port = add(address)
        except (RuntimeError, OSError) as exc:  # grpcio reports a failed bind as RuntimeError
            raise OSError(f"Failed to bind gRPC address {address}: {exc}") from exc
        if not address.startswith("unix:"):
            bound_port = port
    return bound_port


def _add_alts_port(server: AnyServer, address: str) -> int:
    """Listen on ``address`` with ALTS, as TF Serving's ``AltsServerCredentials``. Where
    grpcio has no ALTS (off Google Cloud it makes no credentials), the start fails with
    the reason rather than serving plaintext to a client that asked for ALTS."""
    try:
        return _add_secure_port(server, address, grpc.alts_server_credentials())
    except RuntimeError as exc:
        raise RuntimeError(
            f"{exc} (--use_alts_credentials: grpcio made no ALTS credentials, which it "
            "offers only on Google Cloud)"
        ) from None


def _add_secure_port(server: AnyServer, address: str, credentials: grpc.ServerCredentials) -> int:
    return int(server.add_secure_port(address, credentials))  # type: ignore[arg-type]


class GrpcServer:
    """The running gRPC front end, with per-model health entries.

    ``start``/``stop`` run on the event loop; ``set_model_health`` is thread-safe
    and may be called before ``start`` (entries are applied when it starts).
    Either kind of server (``GrpcOptions.server``) behaves the same from outside.
    """

    def __init__(
        self,
        dataplane: DataPlane,
        reload_config: ReloadConfig,
        options: GrpcOptions,
        *,
        metric_value: MetricValue | None = None,
    ) -> None:
        self._dataplane = dataplane
        self._reload_config = reload_config
        self._options = options
        self._metric_value = metric_value
        self._server: AnyServer | None = None
        self._health: Any = None
        """``health.aio.HealthServicer`` (asyncio) or ``ThreadedHealthServicer`` (threads)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._model_health: dict[str, bool] = {}
        self._health_update: asyncio.Future[None] | None = None
        self.port = 0

    async def start(self) -> int:
        """Bind, start serving and mark services SERVING; returns the bound TCP port."""
        self._loop = asyncio.get_running_loop()
        if self._options.enable_health_service:
            threaded = self._options.server == THREADS
            self._health = ThreadedHealthServicer() if threaded else health.aio.HealthServicer()
        self._server = create_grpc_server(
            self._dataplane,
            self._reload_config,
            self._options,
            metric_value=self._metric_value,
            health_servicer=self._health,
        )
        self.port = bind_ports(self._server, self._options)
        await _done(self._server.start())
        if self._health is not None:
            services = [PREDICTION_SERVICE, MODEL_SERVICE]
            if serves_v2(self._options):
                services.append(V2_INFERENCE_SERVICE)
            serving_status = health_pb2.HealthCheckResponse.SERVING
            for service in services:
                await _health_call(self._health.set, service, serving_status)
            for name, serving in list(self._model_health.items()):
                await _health_call(self._health.set, name, _serving_status(serving))
        return self.port

    async def begin_drain(self) -> None:
        """Report NOT_SERVING on every health entry from now on; RPCs are still served,
        so clients that watch health (and load balancers) move away first."""
        if self._health is not None:
            await _health_call(self._health.enter_graceful_shutdown)

    async def stop(self, grace_s: float | None = None) -> None:
        """Report NOT_SERVING, stop accepting (clients get a GOAWAY), then let
        in-flight RPCs finish for up to ``grace_s``."""
        if self._health is not None:
            await _health_call(self._health.enter_graceful_shutdown)
        if isinstance(self._server, LoopBridge):
            stopped = self._server.server.stop(grace_s)  # a threading.Event, set when done
            await asyncio.get_running_loop().run_in_executor(None, stopped.wait)
            if self._server.pool is not None:
                self._server.pool.shutdown(wait=False)
        elif self._server is not None:
            await self._server.stop(grace_s)

    async def wait_for_termination(self) -> None:
        if isinstance(self._server, LoopBridge):
            threaded = self._server.server
            await asyncio.get_running_loop().run_in_executor(None, threaded.wait_for_termination)
        elif self._server is not None:
            await self._server.wait_for_termination()

    def set_model_health(self, name: str, serving: bool) -> None:
        """Set health entry ``name`` to SERVING or NOT_SERVING. Thread-safe; updates
        apply in call order."""
        self._model_health[name] = serving
        if self._health is None or self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._queue_health_update, name, serving)

    def _queue_health_update(self, name: str, serving: bool) -> None:
        previous = self._health_update
        self._health_update = asyncio.ensure_future(self._update_health(previous, name, serving))

    async def _update_health(
        self, previous: asyncio.Future[None] | None, name: str, serving: bool
    ) -> None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        assert self._health is not None
        await _health_call(self._health.set, name, _serving_status(serving))


async def _done(result: Any) -> None:
    """Await ``result`` when it is awaitable: grpc.aio's methods are coroutines where
    the threaded server's and health servicer's return at once."""
    if inspect.isawaitable(result):
        await result


async def _health_call(method: Callable[..., Any], *args: Any) -> None:
    """Call a health servicer's ``set`` or ``enter_graceful_shutdown``: grpc.aio's
    are coroutines; the threaded one's wait for each watcher's send, which must not
    hold up the event loop, so they run on the loop's default executor."""
    if inspect.iscoroutinefunction(method):
        await method(*args)
    else:
        await asyncio.get_running_loop().run_in_executor(None, method, *args)


def _serving_status(serving: bool) -> int:
    return (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )


def _int32_or_text(value: str) -> int | str:
    try:
        number = int(value, 10)
    except ValueError:
        return value
    return number if -(2**31) <= number < 2**31 else value
