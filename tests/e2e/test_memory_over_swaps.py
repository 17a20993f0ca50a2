"""Resident memory stays flat over many version swaps (TF Serving's users report leaks)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psutil
import pytest

from tests.e2e.test_hot_swap import publish_version
from tests.support.memory import anonymous_bytes
from tests.support.paths import tfserving_model
from tests.support.server_process import running_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_rss_after_60_swaps_is_within_5_percent_of_rss_after_5(tmp_path: Path) -> None:
    source = tfserving_model("saved_model_half_plus_two_2_versions") / "00000123"
    base = tmp_path / "m"
    base.mkdir()
    publish_version(source, base, 1)
    stop = threading.Event()
    errors: list[int] = []
    with running_server(
        "--model_name=m", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"
    ) as server:
        proc = psutil.Process(server.process.pid)

        def light_load() -> None:
            while not stop.is_set():
                status, _ = server.post("/v1/models/m:predict", {"instances": [1.0]})
                if status != 200:
                    errors.append(status)
                stop.wait(0.02)

        load = threading.Thread(target=light_load)
        load.start()
        rss: dict[int, int] = {}
        try:
            for version in range(2, 62):
                publish_version(source, base, version)
                wait_until(
                    lambda v=version: (
                        server.model_states("m").get(v) == "AVAILABLE"
                        and server.model_states("m").get(v - 1) == "END"
                    ),
                    timeout=60,
                    what=f"swap to version {version}",
                )
                swaps = version - 1
                if swaps in (5, 60):
                    rss[swaps] = anonymous_bytes(proc)
        finally:
            stop.set()
            load.join()
        assert errors == []
        growth = rss[60] / rss[5] - 1
        print(json.dumps({"rss_after_5": rss[5], "rss_after_60": rss[60], "growth": growth}))
        assert growth < 0.05, f"anonymous memory grew {growth:.1%} from swap 5 to swap 60"
