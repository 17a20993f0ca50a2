"""``--num_workers``: the model process's side, its endpoint and its supervisor together.

See ``docs/benchmarks.md`` ("Scaling to more cores") for the design and its
measurements: the server process keeps the models and its own transports; N-1
transport workers share its ports and forward what needs a model to it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from tensorserve.transports import Transports
from tensorserve.workers.model_endpoint import (
    DRAIN,
    STOP,
    ModelEndpoint,
    ServerControl,
    Welcome,
)
from tensorserve.workers.supervisor import WorkerSupervisor

if TYPE_CHECKING:
    from tensorserve.server import ModelServer

_LOG = logging.getLogger("tensorserve.workers")

#: How long the start waits for the workers to open their ports.
START_TIMEOUT_S = 60.0


class Workers:
    """The transport workers of one model server. Call from its event loop."""

    def __init__(self, server: ModelServer, transports: Transports) -> None:
        self._server = server
        self._transports = transports
        self._dir = tempfile.mkdtemp(prefix="tensorserve-workers-")  # mode 0700
        core = server.core
        control = ServerControl(
            monitor=server.monitor,
            repository=core,
            labels=lambda: core.labels.as_dict(),
            draining=lambda: core.draining,
            reload_config=server.reload_config,
            render_metrics=server.metrics.render,
            metric_value=server.metrics.counter_total,
        )
        self.endpoint = ModelEndpoint(
            server.dataplane, control, os.path.join(self._dir, "model.sock")
        )
        self.supervisor: WorkerSupervisor | None = None

    async def start(self, count: int) -> None:
        """Start ``count - 1`` workers and wait (a while) until they serve."""
        welcome = Welcome(
            self._server.options, self._transports.grpc_port, self._transports.rest_port
        )
        await self.endpoint.start(lambda _index: welcome)
        self.supervisor = WorkerSupervisor(count, self.endpoint.path)
        self.supervisor.start()
        if await self.endpoint.wait_ready(count - 1, START_TIMEOUT_S):
            _LOG.info("%d transport workers serving beside this process", count - 1)
        else:
            _LOG.warning(
                "Only %d of %d transport workers started within %.0f s; serving anyway",
                len(self.endpoint.ready),
                count - 1,
                START_TIMEOUT_S,
            )

    def push_state(self) -> None:
        self.endpoint.push_state()

    def begin_drain(self) -> None:
        """Workers report not ready and close connections after each response."""
        self.endpoint.push_state()
        self.endpoint.broadcast(DRAIN)

    async def stop(self, timeout_s: float) -> None:
        """Workers stop accepting, answer what they accepted and exit."""
        self.endpoint.broadcast(STOP, timeout_s)
        if self.supervisor is not None:
            await self.supervisor.stop(timeout_s)

    async def close(self) -> None:
        await self.endpoint.close()
        shutil.rmtree(self._dir, ignore_errors=True)
