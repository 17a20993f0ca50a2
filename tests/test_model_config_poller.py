"""The config file poller applies changed configs and survives files it cannot read."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tensorserve.config.model_server_config import ModelServerConfig
from tensorserve.model_config_poller import ModelConfigPoller

CONFIG = 'model_config_list { config { name: "m" base_path: "/models/m" } }'


class Target:
    """The server side of the poller: the current config and the reloads it was asked for."""

    def __init__(self) -> None:
        self.current: ModelServerConfig | None = None
        self.reloads: list[ModelServerConfig] = []

    async def reload(self, config: ModelServerConfig) -> None:
        self.reloads.append(config)
        self.current = config


def poll(path: Path, target: Target) -> None:
    poller = ModelConfigPoller(str(path), 1.0, lambda: target.current, target.reload)
    asyncio.run(poller.poll_once())


def test_a_changed_file_is_applied_once(tmp_path: Path) -> None:
    path, target = tmp_path / "models.config", Target()
    path.write_text(CONFIG)
    poll(path, target)
    poll(path, target)  # unchanged: no second reload
    assert [m.name for m in target.reloads[0].models] == ["m"]
    assert len(target.reloads) == 1


@pytest.mark.parametrize(
    "content",
    [os.urandom(64) + b"\xff\xfe", b"model_config_list { nonsense"],
    ids=["bytes", "text"],
)
def test_an_unreadable_file_is_logged_and_changes_nothing(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15: random bytes raised UnicodeDecodeError and ended polling for good."""
    path, target = tmp_path / "models.config", Target()
    path.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        poll(path, target)
    assert target.reloads == []
    assert "Failed to read ModelServerConfig file" in caplog.text
    path.write_text(CONFIG)  # the next poll still works
    poll(path, target)
    assert len(target.reloads) == 1


async def until(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Yield to the loop (the poller's task) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_polling_goes_on_after_a_bad_file_and_stops_when_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, target = tmp_path / "models.config", Target()
    path.write_bytes(b"\xff\xfe\xfd")

    async def scenario() -> None:
        poller = ModelConfigPoller(str(path), 0.01, lambda: target.current, target.reload)
        poller.start()
        # The good file goes in only once a poll has read the bad one (after a fixed
        # sleep, a poller task started late never saw the bad file).
        await until(lambda: "Failed to read ModelServerConfig file" in caplog.text)
        path.write_text(CONFIG)
        await until(lambda: target.reloads)
        await poller.stop()

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert len(target.reloads) == 1
