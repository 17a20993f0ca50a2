"""A transport worker: ``python -m tensorserve.workers.worker_main SOCKET INDEX``.

Started by the model process for ``--num_workers`` (never by hand). It connects
to the model process's endpoint, receives the server's options and the ports it
bound, and runs the same REST and gRPC transports on those ports
(SO_REUSEPORT) with a :class:`ForwardingDataPlane`. It imports no TensorFlow
and loads no model. It stops when the model process says so (after draining
like the model process) or when the connection ends: a worker never outlives
its server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys

from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.monitoring.asgi import metrics_page_app
from tensorserve.transports import TransportHost, Transports, read_transport_files
from tensorserve.workers.channel import Writer, read_message
from tensorserve.workers.forwarding_dataplane import ForwardingDataPlane, ModelProcessLink
from tensorserve.workers.model_endpoint import DRAIN, HELLO, READY, STATE, STOP, WELCOME

_LOG = logging.getLogger("tensorserve.workers")


async def run_worker(path: str, index: int) -> int:
    """Serve until the model process says stop or goes away; returns the exit code."""
    reader, stream = await asyncio.open_unix_connection(path)
    writer = Writer(stream)
    writer.send((0, HELLO, (index, os.getpid())))
    _rid, kind, payload = await read_message(reader)
    if kind != WELCOME:
        return 1
    welcome, snapshot = payload
    options = dataclasses.replace(
        welcome.options, port=welcome.grpc_port, rest_api_port=welcome.rest_port
    )
    link = ModelProcessLink(writer)
    executor = ModelExecutor(max(options.rest_api_num_threads, 1))
    plane = ForwardingDataPlane(link, snapshot, executor)

    async def reload_config(proto: object) -> None:
        await link.call("reload_config", proto.SerializeToString())  # type: ignore[attr-defined]

    async def render_metrics() -> str:
        text: str = await link.call("metrics")
        return text

    host = TransportHost(
        plane,
        reload_config,
        metric_value=None,
        readiness=lambda: plane.snapshot.readiness,
        draining=lambda: plane.snapshot.draining,
        metrics_app=metrics_page_app(render_metrics),
    )
    transports = Transports(host, options, read_transport_files(options), share_ports=True,
                            primary=False)  # fmt: skip
    await transports.start(_health(plane))
    writer.send((0, READY, index))
    stop_timeout_s = 0.0
    try:
        while True:
            rid, kind, payload = await read_message(reader)
            if rid:
                link.deliver(rid, kind, payload)
            elif kind == STATE:
                plane.apply(payload)
                transports.set_health(_health(plane))
            elif kind == DRAIN:
                await transports.begin_drain()
            elif kind == STOP:
                stop_timeout_s = float(payload)
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        _LOG.warning("worker %d: the model process went away; stopping", index)
        link.fail_all()
    await transports.stop(stop_timeout_s)
    writer.close()
    executor.shutdown()
    return 0


def _health(plane: ForwardingDataPlane) -> dict[str, bool]:
    return {name: plane.model_ready(name) for name in plane.snapshot.states}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path, index = args[0], int(args[1])
    level = os.environ.get("TENSORSERVE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format=f"%(asctime)s.%(msecs)03d %(levelname).1s worker-{index} %(name)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    # The model process orchestrates shutdown; a terminal's Ctrl-C reaches it alone
    # (workers run in their own session), and a stray signal must not cut requests.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import uvloop

        return int(uvloop.run(run_worker(path, index)))
    except ImportError:
        return asyncio.run(run_worker(path, index))


if __name__ == "__main__":
    sys.exit(main())
