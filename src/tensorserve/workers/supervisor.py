"""Starts the ``--num_workers`` transport workers and keeps them running.

Each worker is a fresh interpreter (``subprocess``, never ``fork``: TensorFlow
cannot be forked once initialised), in its own session so a terminal's Ctrl-C
reaches the model process alone, which then stops the workers in order. A
worker that exits while the server runs is started again after a back-off (1 s,
doubling to 30 s, back to 1 s once a worker stayed up a minute); the kernel
resets the connections the dead one held, and the others serve on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time

_LOG = logging.getLogger("tensorserve.workers")

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0


class WorkerSupervisor:
    """Workers 1..count-1 (the model process is worker 0). Call from the event loop."""

    def __init__(self, count: int, endpoint_path: str) -> None:
        self._indexes = range(1, count)
        self._path = endpoint_path
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._keepers: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    @property
    def pids(self) -> dict[int, int]:
        """worker index -> pid of the processes running now."""
        return {i: p.pid for i, p in self._processes.items() if p.returncode is None}

    def start(self) -> None:
        self._keepers = [asyncio.create_task(self._keep(i)) for i in self._indexes]

    async def _keep(self, index: int) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stopping.is_set():
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tensorserve.workers.worker_main",
                self._path,
                str(index),
                start_new_session=True,
            )
            self._processes[index] = process
            began = time.monotonic()
            code = await process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - began > STABLE_AFTER_S:
                backoff = FIRST_BACKOFF_S
            _LOG.warning(
                "Transport worker %d (pid %d) exited with %s; starting it again in %.0f s",
                index,
                process.pid,
                code,
                backoff,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def stop(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the workers to exit (they were told to stop),
        then kill what is left."""
        self._stopping.set()
        running = [p for p in self._processes.values() if p.returncode is None]
        waits = [asyncio.create_task(p.wait()) for p in running]
        if waits:
            _done, pending = await asyncio.wait(waits, timeout=max(timeout_s, 0.0) + 1.0)
            for process in running:
                if process.returncode is None:
                    _LOG.warning("Transport worker pid %d did not stop; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)
