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
import contextlib
import dataclasses
import logging
import os
import signal
import sys

from tensorserve.dataplane.model_executor import ModelExecutor
from tensorserve.monitoring.asgi import metrics_page_app
from tensorserve.transports import TransportHost, Transports, read_transport_files
from tensorserve.workers.channel import MessageStream
from tensorserve.workers.forwarding_dataplane import ForwardingDataPlane, ModelProcessLink
from tensorserve.workers.model_endpoint import HELLO, WELCOME, StateSnapshot, Welcome

_LOG = logging.getLogger("tensorserve.workers")


async def connect(path: str, index: int) -> tuple[ModelProcessLink, Welcome, StateSnapshot]:
    """Join the model process's endpoint as worker ``index``: what it said first, and
    the link to call it through (whose :meth:`~ModelProcessLink.pump` must then run)."""
    loop = asyncio.get_running_loop()
    _transport, stream = await loop.create_unix_connection(MessageStream, path)
    stream.send((0, HELLO, (index, os.getpid())))
    _rid, kind, payload = await stream.next()
    if kind != WELCOME:
        raise ConnectionError(f"the model process answered {kind!r} to hello")
    welcome, snapshot = payload
    return ModelProcessLink(stream), welcome, snapshot


async def run_worker(path: str, index: int) -> int:
    """Serve until the model process says stop or goes away; returns the exit code."""
    link, welcome, snapshot = await connect(path, index)
    options = dataclasses.replace(
        welcome.options, port=welcome.grpc_port, rest_api_port=welcome.rest_port
    )
    executor = ModelExecutor(max(options.rest_api_num_threads, 1))
    plane = ForwardingDataPlane(link, snapshot, executor, endpoint_path=path)

    async def reload_config(proto: object) -> None:
        await link.call("reload_config", proto.SerializeToString())  # type: ignore[attr-defined]

    async def metric_value(name: str) -> int | None:
        values: dict[str, int | None] = await link.call("metric_values", (name,))
        return values[name]

    async def render_metrics() -> str:
        text: str = await link.call("metrics")
        return text

    host = TransportHost(
        plane,
        reload_config,
        metric_value=metric_value,
        readiness=lambda: plane.snapshot.readiness,
        draining=lambda: plane.snapshot.draining,
        metrics_app=metrics_page_app(render_metrics),
    )
    transports = Transports(host, options, read_transport_files(options), share_ports=True,
                            primary=False)  # fmt: skip
    await transports.start(_health(plane))
    link.send_ready(index)

    def on_state(snapshot: StateSnapshot) -> None:
        plane.apply(snapshot)
        transports.set_health(_health(plane))

    stop_timeout_s = await link.pump(on_state, transports.begin_drain)
    if link.closed:
        _LOG.warning("worker %d: the model process went away; stopping", index)
    # The answers to the calls still in flight come after STOP: read them while the
    # transports drain, or those requests wait out the whole shutdown timeout.
    answers = asyncio.create_task(link.pump(on_state, transports.begin_drain))
    await transports.stop(stop_timeout_s)
    answers.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await answers
    link.close()
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
