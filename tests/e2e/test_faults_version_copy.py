"""A version copied in place, its files appearing over seconds (``cp -r`` over a slow
link rather than an atomic rename): the server neither fails it for good nor serves
it half-written, and the version already serving keeps answering meanwhile.

``--max_num_load_retries=0`` makes a load of the half-written directory fail for
good, so the test shows the version is not loaded before it is complete.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support import saved_models
from tests.support.faults import predicts_half_plus_two, version_statuses, write_model_config
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

PAUSE_S = 0.5
"""Between two writes of the slow copy: shorter than the source's 2 s settle period."""


def copy_slowly(source: Path, destination: Path) -> None:
    """Copy a version directory file by file, each in four writes ``PAUSE_S`` apart."""
    destination.mkdir()
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        target = destination / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = file.read_bytes()
        step = max(1, -(-len(data) // 4))
        with target.open("wb") as out:
            for start in range(0, len(data), step):
                out.write(data[start : start + step])
                out.flush()
                time.sleep(PAUSE_S)


class Watcher:
    """Predicts on ``m`` and reads its version states until stopped."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.answers: list[tuple[int, bytes]] = []
        self.states_of_2: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.answers.append(self.server.post("/v1/models/m:predict", {"instances": [1.0]}))
            status = version_statuses(self.server, "m").get(2)
            if status is not None:
                self.states_of_2.add(status.state)
            self._stop.wait(0.05)


def test_a_version_copied_over_seconds_loads_only_once_complete(tmp_path: Path) -> None:
    saved_models.write_half_plus_two(tmp_path / "m" / "1")
    complete = saved_models.write_half_plus_two(tmp_path / "staging" / "2", a=0.5, b=3.0)
    saved_models.write_warmup_requests(
        complete, [saved_models.predict_log({"x": np.float32([1.0])})]
    )
    saved_models.write_half_plus_two(tmp_path / "other" / "1")
    config = write_model_config(
        tmp_path / "models.config", {"m": tmp_path / "m", "other": tmp_path / "other"}
    )
    with running_server(
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    ) as server:
        assert predicts_half_plus_two(server, "m")
        with Watcher(server) as watcher:
            copy_slowly(complete, tmp_path / "m" / "2")
            copied_at = len(watcher.answers)
            assert watcher.states_of_2 == set()  # not even tried while files appeared
            wait_until(
                lambda: (
                    version_statuses(server, "m").get(2) is not None
                    and version_statuses(server, "m")[2].state == "AVAILABLE"
                ),
                timeout=60,
                what="version 2 to load once its copy is complete",
            )
        assert {status for status, _ in watcher.answers} == {200}
        during_copy = {json.loads(b)["predictions"][0] for _, b in watcher.answers[:copied_at]}
        assert during_copy == {2.5}  # only version 1 answered while 2 was being copied
        assert "END" not in watcher.states_of_2
        status, body = server.post("/v1/models/m:predict", {"instances": [1.0]})
        assert (status, json.loads(body)) == (200, {"predictions": [3.5]})
        assert version_statuses(server, "m")[2].error_code == "OK"
        assert "Waiting for version(s) 2 of servable m to stop changing" in server.log()
        assert predicts_half_plus_two(server, "other")
