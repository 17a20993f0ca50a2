"""The composition root: the only place that wires components together.

``ModelServer`` builds the lifecycle core, the TensorFlow platform, the data
plane and both transports from one ``ServerOptions``, opens the ports once the
configured models are loaded or failed (as TensorFlow Serving does), and on
SIGTERM/SIGINT drains: stop accepting, finish in-flight requests on both
protocols, unload every model, exit 0.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import os
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from tensorserve.config.model_server_config import (
    ModelServerConfig,
    config_from_proto,
    read_model_server_config_file,
    single_model_config,
)
from tensorserve.config.options import ServerOptions
from tensorserve.config.text_protos import SslConfig, read_ssl_config_file
from tensorserve.core.aspired_versions_manager import AspiredVersionsManager, ManagerOptions
from tensorserve.core.errors import ServingError
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import DataPlane
from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.malloc_tuning import tune_malloc
from tensorserve.monitoring.metrics import Metrics
from tensorserve.platforms.python.model_caller import Models
from tensorserve.platforms.python.servable_loader import PythonServableLoader, is_python_servable
from tensorserve.server_core import LoaderFactory, ServerCore
from tensorserve.sources.remote_version_loader import RemoteVersionLoader
from tensorserve.sources.storage import storage_for

_LOG = logging.getLogger("tensorserve.server")

#: How long a drain may take before the server gives up on stragglers.
DRAIN_TIMEOUT_S = 30.0
#: How long a config reload waits for newly added models before it answers.
RELOAD_TIMEOUT_S = 120.0


class ModelServer:
    """One serving process. Call ``start``/``stop`` from the event loop."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.monitor = ServableStateMonitor()
        self.metrics = Metrics(CollectorRegistry())
        self.monitor.add_listener(self.metrics.on_servable_state)
        self._model_paths: dict[ServableId, str] = {}
        self._load_started: dict[ServableId, float] = {}
        self.monitor.add_listener(self._record_load)
        self.manager = AspiredVersionsManager(self.monitor, _manager_options(options))
        self.executor = _model_executor(options)
        self._control = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="tensorserve-control"
        )
        self.batch_scheduler: Any = None
        self.dataplane = DataPlane(
            self.manager,
            self.monitor,
            self.executor,
            self.metrics.observer(),
        )
        self.core = ServerCore(
            self.manager,
            self.monitor,
            {
                "tensorflow": self._tensorflow_loader_factory(),
                "python": self._python_loader_factory(),
            },
            options.file_system_poll_wait_seconds,
            allow_version_labels_for_unavailable_models=(
                options.allow_version_labels_for_unavailable_models
            ),
            on_labels=self.dataplane.set_version_labels,
        )
        self.dataplane.repository = self.core
        self.rest: Any = None
        self.grpc: Any = None
        self._config_poller: asyncio.Task[None] | None = None

    # -- start-up --------------------------------------------------------------

    async def start(self) -> None:
        """Load the configured models, then open the gRPC and REST ports."""
        config = self._initial_config()
        self.core.start()
        started = time.monotonic()
        try:
            await self._in_control(self.core.reload_config, config)
        except ServingError as err:
            # TensorFlow Serving exits here; we keep serving the models that loaded,
            # because one bad model must not take the others down.
            _LOG.error("Some models did not load: %s", err.message)
        _LOG.info("Initial model load took %.2fs", time.monotonic() - started)
        # TensorFlow leaves ~10^6 long-lived objects; freezing them keeps each
        # collection (and the one every unload runs) from walking them again.
        gc.freeze()
        await self._start_transports()
        if self.options.model_config_file and self.options.model_config_file_poll_wait_seconds > 0:
            self._config_poller = asyncio.create_task(self._poll_config_file())

    def _initial_config(self) -> ModelServerConfig:
        if self.options.model_config_file:
            return read_model_server_config_file(self.options.model_config_file)
        return single_model_config(self.options.model_name, self.options.model_base_path)

    def _tensorflow_loader_factory(self) -> LoaderFactory:
        from tensorserve.platforms.tensorflow.options import TensorFlowOptions

        opts = self.options
        session_parallelism = opts.tensorflow_session_parallelism
        tf_options = TensorFlowOptions(
            saved_model_tags=TensorFlowOptions.parse_tags(opts.saved_model_tags),
            intra_op_parallelism=opts.tensorflow_intra_op_parallelism or session_parallelism,
            inter_op_parallelism=opts.tensorflow_inter_op_parallelism or session_parallelism,
            enable_model_warmup=opts.enable_model_warmup,
            num_request_iterations_for_warmup=opts.num_request_iterations_for_warmup,
            enable_signature_method_name_check=opts.enable_signature_method_name_check,
        )
        batching = self._batching()

        def make_loader(servable_id: ServableId, path: str) -> Loader:
            from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader

            self._model_paths[servable_id] = path

            def saved_model(local: str | Path) -> Loader:
                return SavedModelLoader(
                    servable_id, local, tf_options, warmup_observer=self.metrics.record_warmup
                )

            loader: Loader
            if "://" not in path and is_python_servable(path):
                return self._python_loader_factory()(servable_id, path)
            if "://" in path:  # object storage: copied locally when the load starts
                loader = RemoteVersionLoader(storage_for(path), path, saved_model)
            else:
                loader = saved_model(path)
            if batching is not None:
                loader = batching(loader)
            return loader

        return make_loader

    def _python_loader_factory(self) -> LoaderFactory:
        """Python servables (``servable.py``), whose ``context.models`` call this server."""
        models = Models(self.manager, self.dataplane.servable_request)

        def make_loader(servable_id: ServableId, path: str) -> Loader:
            self._model_paths[servable_id] = path
            return PythonServableLoader(servable_id, path, models)

        return make_loader

    def _batching(self) -> Callable[[Loader], Loader] | None:
        """The loader wrapper that batches every model, when ``--enable_batching``."""
        if not self.options.enable_batching:
            return None
        from tensorserve.batching.batching_loader import batching_wrapper
        from tensorserve.batching.options import BatchingOptions
        from tensorserve.batching.scheduler import SharedBatchScheduler
        from tensorserve.config.text_protos import read_batching_parameters_file

        path = self.options.batching_parameters_file
        options = read_batching_parameters_file(path) if path else BatchingOptions()
        self.batch_scheduler = SharedBatchScheduler(
            options.num_batch_threads, thread_pool_name=options.thread_pool_name
        )
        self.batch_scheduler.start()
        return batching_wrapper(self.batch_scheduler, options, self.metrics.batching_sink())

    async def _start_transports(self) -> None:
        from tensorserve.grpc.server import GrpcOptions, GrpcServer
        from tensorserve.rest.server import RestServer

        opts = self.options
        ssl = _read_ssl(opts.ssl_config_file)
        grpc_options = GrpcOptions(
            port=opts.port if opts.port else None,
            socket_path=opts.grpc_socket_path,
            channel_arguments=opts.grpc_channel_arguments,
            ssl=ssl,
            # Always on: a health service costs nothing and operators need it
            # (TensorFlow Serving hides it behind --enable_grpc_healthcheck_service).
            enable_health_service=True,
            tensor_content_outputs=opts.enable_serialization_as_tensor_content,
        )
        self.grpc = GrpcServer(
            self.dataplane,
            self.reload_config,
            grpc_options,
            metric_value=self.metrics.counter_total,
        )
        for name in self.monitor.names():
            self._set_health(name)
        grpc_port = await self.grpc.start()
        _LOG.info("Running gRPC ModelServer at 0.0.0.0:%d ...", grpc_port)
        loop = asyncio.get_running_loop()

        def on_state(state: ServableState) -> None:
            loop.call_soon_threadsafe(self._set_health, state.id.name)

        self.monitor.add_listener(on_state)
        if not opts.rest_api_port:
            return
        if opts.rest_api_port == opts.port:
            _LOG.error("--rest_api_port cannot be the same as --port. Not starting REST server.")
            return
        app, max_body = self._rest_app()
        rest_ssl = _read_ssl(opts.rest_ssl_config_file)
        self.rest = RestServer(
            app,
            None,
            opts.rest_api_port,
            _ssl_context(rest_ssl) if rest_ssl else None,
            max_body_bytes=max_body,
        )
        await self.rest.start()
        _LOG.info("Exporting HTTP/REST API at:localhost:%d ...", self.rest.port)

    def _rest_app(self) -> tuple[Any, int]:
        from tensorserve.config.text_protos import read_monitoring_config_file
        from tensorserve.monitoring.asgi import prometheus_asgi_app
        from tensorserve.rest.app import create_app
        from tensorserve.rest.options import RestOptions

        extra: dict[str, Any] = {}
        if self.options.monitoring_config_file:
            monitoring = read_monitoring_config_file(self.options.monitoring_config_file)
            if monitoring.prometheus_enabled:
                extra[monitoring.prometheus_path] = prometheus_asgi_app(self.metrics)
        options = RestOptions(
            timeout_s=RestOptions.timeout_from_ms(self.options.rest_api_timeout_in_ms),
            enable_cors=self.options.rest_api_enable_cors_support,
            readiness=self.core.readiness,
            extra_routes=extra,
        )
        return create_app(self.dataplane, options), options.max_body_bytes

    def _set_health(self, name: str) -> None:
        if self.grpc is None:
            return
        serving = any(
            s.state is ManagerState.AVAILABLE for s in self.monitor.versions(name).values()
        )
        self.grpc.set_model_health(name, serving)

    def _record_load(self, state: ServableState) -> None:
        """Load latency and attempts, with TensorFlow's ``load_*`` metric labels."""
        if state.state is ManagerState.LOADING:
            self._load_started[state.id] = time.monotonic()
        elif state.state in (ManagerState.AVAILABLE, ManagerState.END):
            started = self._load_started.pop(state.id, None)
            if started is not None:
                path = self._model_paths.get(state.id, str(state.id))
                ok = state.state is ManagerState.AVAILABLE
                self.metrics.record_load(path, ok, time.monotonic() - started)
        if state.state is ManagerState.END:
            self._model_paths.pop(state.id, None)

    # -- control ---------------------------------------------------------------

    async def reload_config(self, proto: Any) -> None:
        """HandleReloadConfigRequest: apply a ModelServerConfig proto.

        Unlike TensorFlow Serving, a reload never hangs: after ``RELOAD_TIMEOUT_S``
        it answers with the models still loading."""
        config = config_from_proto(proto)
        await self._in_control(self.core.reload_config, config, RELOAD_TIMEOUT_S)

    async def _poll_config_file(self) -> None:
        period = self.options.model_config_file_poll_wait_seconds
        while True:
            await asyncio.sleep(period)
            try:
                config = read_model_server_config_file(self.options.model_config_file)
            except (ServingError, OSError) as err:
                _LOG.error("Failed to read ModelServerConfig file: %s", err)
                continue
            if config == self.core.config:
                continue
            try:
                await self._in_control(self.core.reload_config, config, RELOAD_TIMEOUT_S)
            except ServingError as err:
                _LOG.error("Reloading the model config failed: %s", err.message)

    async def _in_control(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._control, fn, *args)

    # -- shutdown --------------------------------------------------------------

    async def stop(self, grace_s: float = DRAIN_TIMEOUT_S) -> None:
        """Drain: stop accepting, finish in-flight requests, unload, release threads."""
        if self._config_poller is not None:
            self._config_poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._config_poller
        stops = []
        if self.rest is not None:
            stops.append(self.rest.stop(grace_s))
        if self.grpc is not None:
            stops.append(self.grpc.stop(grace_s))
        await asyncio.gather(*stops, return_exceptions=True)
        await self._in_control(self.core.stop, grace_s)
        if self.batch_scheduler is not None:
            self.batch_scheduler.stop()
        await self._in_control(self.executor.shutdown)
        self._control.shutdown(wait=False)


def _model_executor(options: ServerOptions) -> ModelExecutor:
    """Workers for model calls (batched predicts go straight to the batch queues and
    need none; classify, regress and large conversions still use these)."""
    return ModelExecutor(max(options.rest_api_num_threads, 1))


def _manager_options(options: ServerOptions) -> ManagerOptions:
    interval = options.load_retry_interval_micros / 1e6
    return ManagerOptions(
        num_load_threads=options.num_load_threads,
        num_unload_threads=options.num_unload_threads,
        max_num_load_retries=options.max_num_load_retries,
        load_retry_interval_s=max(interval, 0.0),
        total_memory_bytes=options.total_model_memory_limit_bytes or None,
    )


def _read_ssl(path: str) -> SslConfig | None:
    return read_ssl_config_file(path) if path else None


def _ssl_context(config: SslConfig) -> ssl.SSLContext:
    """A server-side TLS context from PEM text (REST's counterpart of gRPC's SSLConfig)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_text(config.server_cert)
        key.touch(mode=0o600)
        key.write_text(config.server_key)
        context.load_cert_chain(cert, key)
    if config.custom_ca:
        context.load_verify_locations(cadata=config.custom_ca)
    if config.client_verify:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _configure_logging() -> None:
    level = os.environ.get("TENSORSERVE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(levelname).1s %(name)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )


#: Flags TensorFlow Serving has that change nothing here; set, they earn a warning.
_INERT_FLAGS = (
    "use_alts_credentials",
    "per_process_gpu_memory_fraction",
    "tensorflow_session_config_file",
    "platform_config_file",
    "enable_per_model_batching_parameters",
    "prefer_tflite_model",
    "xla_cpu_compilation_enabled",
    "xla_gpu_compilation_enabled",
    "mixed_precision",
    "thread_pool_factory_config_file",
    "grpc_max_threads",  # grpc.aio has no handler threads; capping RPCs would refuse, not queue
)


def _warn_inert_flags(options: ServerOptions) -> None:
    defaults = ServerOptions()
    for name in _INERT_FLAGS:
        if getattr(options, name) != getattr(defaults, name):
            _LOG.warning(
                "--%s is accepted for compatibility but has no effect in tensorserve", name
            )


async def _serve(options: ServerOptions) -> int:
    _warn_inert_flags(options)
    server = ModelServer(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except ServingError as err:
        print(f"Failed to start server. Error: {err.with_prefix()}", file=sys.stderr)
        await server.stop(0)
        return 1
    await stop.wait()
    _LOG.info("Received a signal: draining requests and unloading models")
    await server.stop()
    _LOG.info("Server stopped cleanly")
    return 0


ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
"""TensorFlow reads this once, at import; the server sets it to 0 unless it is set."""


def run_server(options: ServerOptions) -> int:
    """Run the server in this process until SIGTERM/SIGINT; returns the exit code."""
    _configure_logging()
    tune_malloc()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if not os.environ.get(ONEDNN_ENV):
        # oneDNN's fused Conv2D/pool kernels abort the process (a CHECK failure) on an
        # input of the wrong rank, where TensorFlow's own kernels return InvalidArgument.
        # One bad request must not end the server, so they are opt-in (set it to 1).
        os.environ[ONEDNN_ENV] = "0"
    try:
        import uvloop

        return int(uvloop.run(_serve(options)))
    except ImportError:
        return asyncio.run(_serve(options))
