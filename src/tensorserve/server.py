"""The composition root: the only place that wires components together.

``ModelServer`` builds the lifecycle core, the TensorFlow platform, the data
plane and both transports from one ``ServerOptions``, and opens the ports once
the configured models are loaded or failed (as TensorFlow Serving does).

Shutdown is a sequence a load balancer can follow (``docs/deploy.md``):

1. SIGTERM/SIGINT: readiness turns off at once (``/readyz`` 503, every gRPC
   health entry NOT_SERVING, V2 server-ready false: all read
   ``ServerCore.readiness``), while both protocols keep serving for
   ``--drain_delay_seconds``; REST responses now carry ``Connection: close``.
2. Then the ports stop accepting (gRPC clients get a GOAWAY), everything
   accepted is answered, the models unload, and the process exits 0, all
   within ``--shutdown_timeout_seconds``. A second signal ends the delay early.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.thread
import gc
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from tensorserve.code_pages import release_clean_file_pages
from tensorserve.config.model_server_config import (
    ModelServerConfig,
    config_from_proto,
    read_model_server_config_file,
    single_model_config,
    validate_model_server_config,
)
from tensorserve.config.options import ServerOptions
from tensorserve.config.platform_config import (
    OWN_PLATFORMS,
    TENSORFLOW_PLATFORM,
    SavedModelPlatform,
    saved_model_platforms,
)
from tensorserve.core.aspired_versions_manager import AspiredVersionsManager, ManagerOptions
from tensorserve.core.errors import ServingError
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.core.thread_joins import join_all
from tensorserve.dataplane import DataPlane
from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.malloc_tuning import tune_malloc
from tensorserve.model_config_poller import ModelConfigPoller
from tensorserve.monitoring.load_recorder import LoadRecorder
from tensorserve.monitoring.metrics import Metrics
from tensorserve.platforms.python.model_caller import Models
from tensorserve.platforms.python.servable_loader import PythonServableLoader, is_python_servable
from tensorserve.server_core import LoaderFactory, ServerCore
from tensorserve.sources.remote_version_loader import RemoteVersionLoader
from tensorserve.sources.storage import storage_for
from tensorserve.tensorflow_environment import check_mixed_precision, set_serving_defaults
from tensorserve.transports import (
    TransportFiles,
    TransportHost,
    Transports,
    grpc_server_kind,
    read_transport_files,
)

if TYPE_CHECKING:
    from tensorserve.workers.workers import Workers

_LOG = logging.getLogger("tensorserve.server")

#: How long a drain may take when the caller names no budget (tests, embedders).
DRAIN_TIMEOUT_S = 30.0
#: How long a config reload waits for newly added models before it answers.
RELOAD_TIMEOUT_S = 120.0


class ModelServer:
    """One serving process. Call ``start``/``begin_drain``/``stop`` from the event loop."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.monitor = ServableStateMonitor()
        self.metrics = Metrics(CollectorRegistry())
        self.monitor.add_listener(self.metrics.on_servable_state)
        self.loads = LoadRecorder(self.metrics)
        self.monitor.add_listener(self.loads)
        self.manager = AspiredVersionsManager(self.monitor, _manager_options(options))
        self.executor = _model_executor(options)
        self._control = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="tensorserve-control"
        )
        # The flags' `tensorflow` platform, or --platform_config_file's entries; read now,
        # so a bad file refuses the start.
        self.platforms = saved_model_platforms(options)
        self.batching: dict[str, Any] = {}
        """Each batched SavedModel platform's own shared scheduler, as in TF Serving."""
        for name, platform in self.platforms.items():
            if platform.batching is not None:
                from tensorserve.batching.server_batching import ServerBatching

                self.batching[name] = ServerBatching(
                    platform.batching,
                    self.metrics.batching_sink(),
                    per_model=platform.per_model_batching,
                )
        self.dataplane = DataPlane(
            self.manager,
            self.monitor,
            self.executor,
            self.metrics.observer(),
        )
        python_loader = self._python_loader_factory()
        self.core = ServerCore(
            self.manager,
            self.monitor,
            {
                **{
                    name: self._tensorflow_loader_factory(name, python_loader)
                    for name in self.platforms
                },
                "onnx": self._onnx_loader_factory(),
                "python": python_loader,
            },
            options.file_system_poll_wait_seconds,
            allow_version_labels_for_unavailable_models=(
                options.allow_version_labels_for_unavailable_models
            ),
            on_labels=self.dataplane.set_version_labels,
        )
        self.dataplane.repository = self.core
        self.transports: Transports | None = None
        self.workers: Workers | None = None
        self._config_poller: ModelConfigPoller | None = None
        self._files = TransportFiles()

    # -- start-up --------------------------------------------------------------

    async def start(self) -> None:
        """Load the configured models, then open the gRPC and REST ports."""
        config = self._initial_config()
        # A config TF Serving refuses (duplicate names, relative paths...) refuses the start;
        # models that merely fail to load do not (see below). So does any bad file, read
        # now rather than after minutes of model loading.
        validate_model_server_config(config, supported_platforms={*self.platforms, *OWN_PLATFORMS})
        self._files = read_transport_files(self.options)
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
        # After the initial load: what start-up alone touched goes back (code_pages.py).
        release_clean_file_pages()
        await self._start_transports()
        opts = self.options
        if opts.model_config_file and opts.model_config_file_poll_wait_seconds > 0:
            self._config_poller = ModelConfigPoller(
                opts.model_config_file,
                opts.model_config_file_poll_wait_seconds,
                lambda: self.core.config,
                self._apply_config,
            )
            self._config_poller.start()

    def _initial_config(self) -> ModelServerConfig:
        if self.options.model_config_file:
            return read_model_server_config_file(self.options.model_config_file)
        return single_model_config(self.options.model_name, self.options.model_base_path)

    def _tensorflow_loader_factory(
        self, platform: str, python_loader: LoaderFactory
    ) -> LoaderFactory:
        """SavedModels of one platform (``tensorflow``, or a platform config file's
        entry); a version directory with ``servable.py`` and no SavedModel is a Python
        servable (``python_loader``), as no TensorFlow Serving could serve it."""
        settings = self.platforms[platform]
        tf_options = settings.tensorflow
        check_mixed_precision(tf_options.mixed_precision)
        onnx_options = _onnx_options(settings)
        batching = self.batching.get(platform)

        def make_loader(servable_id: ServableId, path: str) -> Loader:
            self.loads.note_path(servable_id, path)

            def saved_model(local: str | Path) -> Loader:
                # Imports TensorFlow: only a version that needs it does.
                from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader

                return SavedModelLoader(
                    servable_id, local, tf_options, warmup_observer=self.metrics.record_warmup
                )

            loader: Loader
            if "://" not in path and is_python_servable(path):
                return python_loader(servable_id, path)
            storage = storage_for(path)
            if "://" in path:  # object storage: copied locally when the load starts
                loader = RemoteVersionLoader(storage, path, saved_model)
            else:
                from tensorserve.platforms.runtime_choice import other_runtime_loader

                other = other_runtime_loader(
                    servable_id,
                    Path(path),
                    onnx_options=onnx_options,
                    prefer_tflite=settings.prefer_tflite,
                    tflite_pool_size=settings.tflite_pools,
                )
                loader = other or self._with_twins(saved_model(path), path, onnx_options)
            if batching is not None:  # the local copy is there once the load ran
                loader = batching.wrap(loader, lambda: storage.local_path(path))
            return loader

        return make_loader

    def _python_loader_factory(self) -> LoaderFactory:
        """Python servables (``servable.py``), whose ``context.models`` call this server."""
        models = Models(self.manager, self.dataplane.servable_request)

        def make_loader(servable_id: ServableId, path: str) -> Loader:
            self.loads.note_path(servable_id, path)
            return PythonServableLoader(servable_id, path, models)

        return make_loader

    def _onnx_loader_factory(self) -> LoaderFactory:
        """``model_platform: "onnx"``: each version directory holds ``model.onnx``; the
        ``tensorflow`` platform's threads and batching apply (the flags, or its entry in
        a platform config file)."""
        settings = self.platforms.get(TENSORFLOW_PLATFORM)
        options = _onnx_options(settings)
        batching = self.batching.get(TENSORFLOW_PLATFORM)

        def make_loader(servable_id: ServableId, path: str) -> Loader:
            from tensorserve.platforms.onnx.onnx_loader import OnnxLoader

            self.loads.note_path(servable_id, path)
            loader: Loader = OnnxLoader(servable_id, path, options)
            if batching is None:
                return loader
            return batching.wrap(loader, lambda: Path(path))  # ONNX versions are local

        return make_loader

    def _with_twins(self, loader: Loader, path: str, onnx_options: Any) -> Loader:
        """With ``--prefer_onnx_model``, the SavedModel's verified ONNX twins serve too."""
        if not self.options.prefer_onnx_model:
            return loader
        from tensorserve.platforms.onnx.twin_loader import TwinLoader

        return TwinLoader(loader, Path(path), onnx_options)

    async def _start_transports(self) -> None:
        from tensorserve.monitoring.asgi import prometheus_asgi_app

        host = TransportHost(
            self.dataplane,
            self.reload_config,
            self.metrics.counter_total,
            self.core.readiness,
            lambda: self.core.draining,
            prometheus_asgi_app(self.metrics),
        )
        workers = self.options.worker_count()
        shared = workers > 1
        self.transports = Transports(host, self.options, self._files, share_ports=shared)
        await self.transports.start(self._health(self.monitor.names()))
        loop = asyncio.get_running_loop()

        def on_state(state: ServableState) -> None:
            loop.call_soon_threadsafe(self._set_health, state.id.name)

        self.monitor.add_listener(on_state)
        if shared:
            from tensorserve.workers.workers import Workers

            self.workers = Workers(self, self.transports)
            await self.workers.start(workers)

    @property
    def rest(self) -> Any:
        return self.transports.rest if self.transports is not None else None

    @property
    def grpc(self) -> Any:
        return self.transports.grpc if self.transports is not None else None

    def _health(self, names: Iterable[str]) -> dict[str, bool]:
        return {
            name: any(
                s.state is ManagerState.AVAILABLE for s in self.monitor.versions(name).values()
            )
            for name in names
        }

    def _set_health(self, name: str) -> None:
        if self.transports is not None:
            self.transports.set_health(self._health([name]))

    def _set_overall_health(self) -> None:
        """The server's own gRPC health entry follows readiness, as ``/readyz`` does."""
        if self.transports is not None:
            self.transports.set_health({})

    # -- control ---------------------------------------------------------------

    async def reload_config(self, proto: Any) -> None:
        """HandleReloadConfigRequest: apply a ModelServerConfig proto.

        Unlike TensorFlow Serving, a reload never hangs: after ``RELOAD_TIMEOUT_S``
        it answers with the models still loading."""
        await self._apply_config(config_from_proto(proto))

    async def _apply_config(self, config: ModelServerConfig) -> None:
        try:
            await self._in_control(self.core.reload_config, config, RELOAD_TIMEOUT_S)
        finally:
            self._set_overall_health()
            if self.workers is not None:
                self.workers.push_state()

    async def _in_control(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._control, fn, *args)

    # -- shutdown --------------------------------------------------------------

    async def begin_drain(self) -> None:
        """Step 1 of shutdown: report not ready everywhere; keep serving both protocols."""
        self.core.begin_drain()
        if self.workers is not None:
            self.workers.begin_drain()
        if self.transports is not None:
            await self.transports.begin_drain()

    async def stop(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Step 2: stop accepting, finish what was accepted, unload, release threads;
        within ``timeout_s`` (requests still running then are cancelled). False when
        a version was not unloaded by the deadline (a hung load, or a model call still
        holding its version)."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        self.core.begin_drain()
        if self._config_poller is not None:
            await self._config_poller.stop()
        if self.workers is not None:
            self.workers.begin_drain()
        # The workers' forwarded requests need this process: they stop first.
        stops = []
        if self.workers is not None:
            stops.append(self.workers.stop(timeout_s))
        if self.transports is not None:
            stops.append(self.transports.stop(timeout_s))
        await asyncio.gather(*stops, return_exceptions=True)
        if self.workers is not None:
            await self.workers.close()
        unloaded = await self._in_control(self.core.stop, _left(deadline))
        # Model threads still in a call now (a model that hangs) are daemons: the
        # shutdown timeout bounds the wait for them, as it bounds the rest.
        for batching in self.batching.values():
            await self._in_control(batching.stop, _left(deadline))
        await self._in_control(self.executor.shutdown, _left(deadline))
        self._control.shutdown(wait=False)
        return bool(unloaded)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _onnx_options(platform: SavedModelPlatform | None) -> Any:
    """ONNX Runtime's sessions take the threads of the SavedModel platform they serve
    beside (``--tensorflow_*_parallelism``, or a platform config's session config)."""
    from tensorserve.platforms.onnx.options import OnnxOptions

    if platform is None:
        return OnnxOptions()
    return OnnxOptions(
        intra_op_parallelism=platform.tensorflow.intra_op_parallelism,
        inter_op_parallelism=platform.tensorflow.inter_op_parallelism,
    )


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
        load_timeout_s=_load_timeout(options.load_timeout_seconds),
        total_memory_bytes=options.total_model_memory_limit_bytes or None,
    )


def _load_timeout(seconds: float) -> float | None:
    """``--load_timeout_seconds``: 0, negative or not finite means no limit."""
    return seconds if math.isfinite(seconds) and seconds > 0 else None


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
    "xla_cpu_compilation_enabled",
    "xla_gpu_compilation_enabled",
    "thread_pool_factory_config_file",
)


def _warn_inert_flags(options: ServerOptions) -> None:
    defaults = ServerOptions()
    for name in _INERT_FLAGS:
        if getattr(options, name) != getattr(defaults, name):
            _LOG.warning(
                "--%s is accepted for compatibility but has no effect in tensorserve", name
            )
    kind = grpc_server_kind(options)
    if kind != "threads" and options.grpc_max_threads != defaults.grpc_max_threads:
        _LOG.warning("--grpc_max_threads has no effect with --grpc_server=%s", kind)


async def _serve(options: ServerOptions) -> int:
    _warn_inert_flags(options)
    try:
        server = ModelServer(options)  # reads the batching parameters file
    except ServingError as err:
        print(f"Failed to start server. Error: {err.with_prefix()}", file=sys.stderr)
        return 1
    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signalled.set)
    starting = asyncio.ensure_future(server.start())
    signal_seen = asyncio.ensure_future(signalled.wait())
    await asyncio.wait((starting, signal_seen), return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        # A load that takes minutes (or hangs) must not make the process deaf to
        # SIGTERM: TensorFlow Serving dies at once, and Kubernetes kills a pod that waits.
        _LOG.info("Received a signal while starting: stopping without serving")
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        return _stopped(await server.stop(options.shutdown_timeout_seconds))
    signal_seen.cancel()
    try:
        starting.result()
    except ServingError as err:
        print(f"Failed to start server. Error: {err.with_prefix()}", file=sys.stderr)
        await server.stop(0)
        return 1
    except OSError as err:  # a port taken, an address or credentials that cannot bind
        print(f"Failed to start server. Error: {err}", file=sys.stderr)
        await server.stop(0)
        return 1
    await signalled.wait()
    signalled.clear()
    delay = options.drain_delay_seconds
    _LOG.info("Received a signal: not ready from now on; serving %.1fs more", delay)
    await server.begin_drain()
    if delay > 0:
        try:  # a second signal ends the delay early
            await asyncio.wait_for(signalled.wait(), delay)
        except TimeoutError:
            pass
    _LOG.info("Closing the ports: answering in-flight requests, then unloading models")
    return _stopped(await server.stop(options.shutdown_timeout_seconds))


def _stopped(unloaded: bool) -> int:
    if unloaded:
        _LOG.info("Server stopped cleanly")
    else:
        _LOG.warning(
            "Server stopped; not every model unloaded within --shutdown_timeout_seconds "
            "(a load or a model call still running), and the process exits without them"
        )
    return 0


def run_server(options: ServerOptions) -> int:
    """Run the server in this process until SIGTERM/SIGINT; returns the exit code."""
    _configure_logging()
    tune_malloc()
    set_serving_defaults()  # too late if TensorFlow is imported already: cli.serve sets them first
    try:
        import uvloop
    except ImportError:
        code = asyncio.run(_serve(options))
    else:
        code = int(uvloop.run(_serve(options)))
    _exit_past_stuck_threads(code)
    return code


_IDLE_THREADS_END_S = 1.0


def _exit_past_stuck_threads(code: int) -> None:
    """Exit now if a thread the interpreter would join at exit is still running.

    Python cannot stop a thread: a load hanging inside TensorFlow (or a servable's
    own code) keeps its pool thread, and the interpreter's exit joins pool threads,
    so the process would outlive ``--shutdown_timeout_seconds`` until SIGKILL. The
    server has stopped by now; what such threads would still do is abandoned work.
    """
    # Executor threads are joined whether daemon or not (a pool started from a
    # daemon thread, as the manager's are, has daemon threads): CPython keeps them
    # in concurrent.futures.thread._threads_queues for its exit hook.
    pooled = set(getattr(concurrent.futures.thread, "_threads_queues", {}))
    joined = [
        t
        for t in threading.enumerate()
        if t is not threading.current_thread() and (t in pooled or not t.daemon)
    ]
    # Idle pool threads told to stop (the control pool's) end within moments.
    if join_all(joined, _IDLE_THREADS_END_S):
        return
    stuck = ", ".join(t.name for t in joined if t.is_alive())
    _LOG.warning("Exiting without waiting for threads still running: %s", stuck)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
