"""The REST and gRPC front ends of one process, built from ``ServerOptions``.

The model process and each transport worker (``--num_workers``) run the same
transports on the same ports; they differ only in the data plane they hold and
in where readiness, health and metrics come from, which :class:`TransportHost`
names. With ``share_ports`` both listeners bind with SO_REUSEPORT, so the kernel
spreads connections over the processes; the model process
(``primary``) first binds each port plainly, so a port another server holds still
fails the start, as it does with one process; it alone serves ``--grpc_socket_path``.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from tensorserve.config.options import ServerOptions
from tensorserve.config.text_protos import (
    MonitoringConfig,
    SslConfig,
    check_ssl_pem,
    read_monitoring_config_file,
    read_ssl_config_file,
)
from tensorserve.dataplane import DataPlane

if TYPE_CHECKING:
    from tensorserve.grpc.model_service import MetricValue

_LOG = logging.getLogger("tensorserve.server")

#: The gRPC health entry that stands for the whole server (``grpc.health.v1``).
OVERALL_HEALTH = ""


@dataclasses.dataclass(frozen=True, slots=True)
class TransportFiles:
    """The text-proto files the transports need, read and checked before models load."""

    ssl: SslConfig | None = None
    rest_ssl: SslConfig | None = None
    monitoring: MonitoringConfig | None = None


def read_transport_files(options: ServerOptions) -> TransportFiles:
    """Read and check ``--ssl_config_file``, ``--rest_ssl_config_file`` and
    ``--monitoring_config_file``; raises ServingError for a bad one."""
    monitoring = options.monitoring_config_file
    return TransportFiles(
        ssl=_read_ssl(options.ssl_config_file, "ssl_config_file"),
        rest_ssl=_read_ssl(options.rest_ssl_config_file, "rest_ssl_config_file"),
        monitoring=read_monitoring_config_file(monitoring) if monitoring else None,
    )


def _read_ssl(path: str, flag: str) -> SslConfig | None:
    if not path:
        return None
    config = read_ssl_config_file(path)
    check_ssl_pem(config, flag)
    return config


@dataclasses.dataclass(frozen=True, slots=True)
class TransportHost:
    """What the transports ask of the process that runs them."""

    dataplane: DataPlane
    reload_config: Callable[[Any], Awaitable[None]]
    metric_value: MetricValue | None
    readiness: Callable[[], tuple[bool, Mapping[str, str]]]
    draining: Callable[[], bool]
    metrics_app: Any = None
    """The ASGI app of the Prometheus page (None: this process cannot render it)."""


class Transports:
    """The gRPC server and, when ``--rest_api_port`` is set, the REST server."""

    def __init__(
        self,
        host: TransportHost,
        options: ServerOptions,
        files: TransportFiles,
        *,
        share_ports: bool = False,
        primary: bool = True,
    ) -> None:
        self._host = host
        self._options = options
        self._files = files
        self._share_ports = share_ports
        self._primary = primary
        self.rest: Any = None
        self.grpc: Any = None

    @property
    def grpc_port(self) -> int:
        return int(self.grpc.port) if self.grpc is not None else 0

    @property
    def rest_port(self) -> int:
        return int(self.rest.port) if self.rest is not None else 0

    async def start(self, health: Mapping[str, bool]) -> None:
        """Open the ports; ``health`` is the per-model gRPC health to start with."""
        from tensorserve.grpc.server import GrpcOptions, GrpcServer
        from tensorserve.rest.server import RestServer
        from tensorserve.rest.tls import server_ssl_context

        opts = self._options
        if self._share_ports and self._primary:
            _probe(opts.listen_address, opts.port)
            if opts.rest_api_port and opts.rest_api_port != opts.port:
                _probe(opts.listen_address, opts.rest_api_port)
        grpc_options = GrpcOptions(
            port=opts.port if opts.port else None,
            host=opts.listen_address or "0.0.0.0",
            # One process serves the UNIX socket: a second bind would replace the file.
            socket_path=opts.grpc_socket_path if self._primary else "",
            channel_arguments=opts.grpc_channel_arguments,
            ssl=self._files.ssl,
            alts=opts.use_alts_credentials,
            # Always on: a health service costs nothing and operators need it
            # (TensorFlow Serving hides it behind --enable_grpc_healthcheck_service).
            enable_health_service=True,
            tensor_content_outputs=opts.enable_serialization_as_tensor_content,
            server=grpc_server_kind(opts),
            max_threads=opts.grpc_max_threads,
            reuse_port=self._share_ports,
        )
        self.grpc = GrpcServer(
            self._host.dataplane,
            self._host.reload_config,
            grpc_options,
            metric_value=self._host.metric_value,
        )
        self.set_health(health)
        grpc_port = await self.grpc.start()
        _LOG.info(
            "Running gRPC ModelServer at %s:%d ...", opts.listen_address or "0.0.0.0", grpc_port
        )
        if not opts.rest_api_port:
            return
        if opts.rest_api_port == opts.port:
            _LOG.error("--rest_api_port cannot be the same as --port. Not starting REST server.")
            return
        app, max_body = self._rest_app()
        rest_ssl = self._files.rest_ssl
        self.rest = RestServer(
            app,
            opts.listen_address or None,
            opts.rest_api_port,
            server_ssl_context(rest_ssl) if rest_ssl else None,
            max_body_bytes=max_body,
            reuse_port=self._share_ports,
        )
        await self.rest.start()
        _LOG.info("Exporting HTTP/REST API at:localhost:%d ...", self.rest.port)

    def _rest_app(self) -> tuple[Any, int]:
        from tensorserve.rest.app import create_app
        from tensorserve.rest.lame_duck import close_after_each_response
        from tensorserve.rest.options import RestOptions

        extra: dict[str, Any] = {}
        monitoring = self._files.monitoring
        if monitoring is not None and monitoring.prometheus_enabled:
            extra[monitoring.prometheus_path] = self._host.metrics_app
        options = RestOptions(
            timeout_s=RestOptions.timeout_from_ms(self._options.rest_api_timeout_in_ms),
            enable_cors=self._options.rest_api_enable_cors_support,
            readiness=self._host.readiness,
            extra_routes=extra,
        )
        app = create_app(self._host.dataplane, options)
        return close_after_each_response(app, self._host.draining), options.max_body_bytes

    def set_health(self, health: Mapping[str, bool]) -> None:
        """Per-model gRPC health (thread-safe); the overall entry follows readiness."""
        if self.grpc is None:
            return
        for name, serving in health.items():
            self.grpc.set_model_health(name, serving)
        self.grpc.set_model_health(OVERALL_HEALTH, self._host.readiness()[0])

    async def begin_drain(self) -> None:
        """Report NOT_SERVING on every health entry; keep serving."""
        if self.grpc is not None:
            await self.grpc.begin_drain()

    async def stop(self, timeout_s: float) -> None:
        """Stop accepting and answer what was accepted, within ``timeout_s``."""
        import asyncio

        stops = []
        if self.rest is not None:
            stops.append(self.rest.stop(timeout_s))
        if self.grpc is not None:
            stops.append(self.grpc.stop(timeout_s))
        await asyncio.gather(*stops, return_exceptions=True)


def grpc_server_kind(options: ServerOptions) -> str:
    """``--grpc_server`` resolved: ``auto`` is the h2 server (``grpc/h2/``), the cheapest
    per RPC (about a third of grpcio's threaded server's CPU, ``docs/benchmarks.md``);
    like grpc.aio it holds no thread per RPC, so batching can gather any number of
    requests.

    ``--grpc_channel_arguments`` configure grpcio's servers. h2 honours the ones about
    connection lifetime, stream count and port sharing (``grpc/h2/lifetime.py``); given
    any other, ``auto`` keeps grpcio, asyncio with batching (the threaded server holds
    one handler thread per RPC in flight, which would cap a batch at
    ``--grpc_max_threads`` requests; a ``--platform_config_file`` counts as batching)
    and threads otherwise. Arguments that do not parse,
    or values h2 would leave out, leave the choice to grpcio, which reports them.
    ``--use_alts_credentials`` keeps grpcio too: only its servers speak ALTS.
    """
    from tensorserve.grpc.h2.lifetime import honoured
    from tensorserve.grpc.server import parse_channel_arguments

    if options.grpc_server != "auto":
        return options.grpc_server
    try:
        arguments = parse_channel_arguments(options.grpc_channel_arguments)
    except ValueError:
        arguments = [("", "")]
    if honoured(arguments) and not options.use_alts_credentials:
        return "h2"
    # A platform config file may batch any platform: read as batching, for that choice.
    batching = options.enable_batching or bool(options.platform_config_file)
    return "asyncio" if batching else "threads"


def _probe(host: str, port: int) -> None:
    """Bind ``port`` without SO_REUSEPORT and let go: raises OSError when another
    process holds it, which a shared bind would not notice."""
    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
