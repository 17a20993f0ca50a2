"""A new version directory appears under load: it takes over and not one request fails."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.support.paths import tfserving_model
from tests.support.server_process import running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def publish_version(source: Path, base: Path, version: int) -> None:
    """Write a version the way the export tool does: under a temp name, then rename."""
    tmp = base / f".tmp-{version}"
    shutil.copytree(source, tmp, copy_function=os.link)
    tmp.rename(base / str(version))


def test_new_version_serves_and_no_request_fails_during_the_swap(tmp_path: Path) -> None:
    source = tfserving_model("saved_model_half_plus_two_2_versions")
    base = tmp_path / "half_plus_two"
    base.mkdir()
    publish_version(source / "00000123", base, 123)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()
    with running_server(
        "--model_name=half_plus_two",
        f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=1",
    ) as server:

        def client() -> None:
            while not stop.is_set():
                status, body = server.post(
                    "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0]}
                )
                if status != 200 or json.loads(body) != {"predictions": [2.5, 3.0]}:
                    failures.append(f"{status} {body[:200]!r}")
                answered[0] += 1

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: answered[0] > 50, timeout=60, what="traffic before the swap")
            publish_version(source / "00000124", base, 124)
            wait_until(
                lambda: server.model_states("half_plus_two") == {124: "AVAILABLE", 123: "END"},
                timeout=60,
                what="version 124 available and 123 unloaded",
            )
            before = answered[0]
            wait_until(lambda: answered[0] > before + 50, timeout=60, what="traffic after")
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert failures == []
        status, _ = server.post(
            "/v1/models/half_plus_two/versions/124:predict", {"instances": [1.0]}
        )
        assert status == 200
        status, body = server.post(
            "/v1/models/half_plus_two/versions/123:predict", {"instances": [1.0]}
        )
        assert status == 404
        assert json.loads(body) == {
            "error": "Servable not found for request: Specific(half_plus_two, 123)"
        }
