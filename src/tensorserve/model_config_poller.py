"""Re-reading ``--model_config_file`` every ``--model_config_file_poll_wait_seconds``.

A file that does not parse (bad text, bytes that are not UTF-8, a missing
file) is logged and the served models stay as they are; the next poll tries
again. A changed config is handed to ``reload``, whose failure is logged the
same way: nothing ends the poller but :meth:`ModelConfigPoller.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from tensorserve.config.model_server_config import (
    ModelServerConfig,
    read_model_server_config_file,
)
from tensorserve.core.errors import ServingError

_LOG = logging.getLogger(__name__)

Reload = Callable[[ModelServerConfig], Awaitable[None]]


class ModelConfigPoller:
    """A task on the event loop; call ``start`` and ``stop`` from the loop."""

    def __init__(
        self,
        path: str,
        period_s: float,
        current: Callable[[], ModelServerConfig | None],
        reload: Reload,
    ) -> None:
        self._path = path
        self._period_s = period_s
        self._current = current
        self._reload = reload
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def poll_once(self) -> None:
        """Read the file and apply it when it differs from the current config."""
        try:
            config = read_model_server_config_file(self._path)
        except ServingError as err:
            _LOG.error("Failed to read ModelServerConfig file: %s", err.message)
            return
        except (OSError, ValueError) as err:  # ValueError covers UnicodeDecodeError
            _LOG.error("Failed to read ModelServerConfig file: %s", err)
            return
        if config == self._current():
            return
        try:
            await self._reload(config)
        except ServingError as err:
            _LOG.error("Reloading the model config failed: %s", err.message)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._period_s)
            try:
                await self.poll_once()
            except Exception:  # a bug must not end polling for the life of the server
                _LOG.exception("Polling the ModelServerConfig file failed")
