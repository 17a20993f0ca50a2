"""A new version directory appears under load: it takes over and not one request fails."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import pytest

from tests.support.paths import tfserving_model
from tests.support.server_process import running_server
from tests.support.serving_processes import WORKERS, rest_on_each_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def publish_version(source: Path, base: Path, version: int) -> None:
    """Write a version the way the export tool does: under a temp name, then rename."""
    tmp = base / f".tmp-{version}"
    shutil.copytree(source, tmp, copy_function=os.link)
    tmp.rename(base / str(version))


Outcome = tuple[int, bytes]
EXPECTED = {"predictions": [2.5, 3.0]}


class PredictLoad:
    """Client threads that send requests until the block ends, recording every failure.

    A request fails when it raises (a connection reset, a timeout...) or answers anything but
    200 with the expected body; the thread records it and goes on, so no failure is lost to
    a dead thread. Thread-safe counters.
    """

    def __init__(self, send: Callable[[], Outcome], threads: int = 4) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(threads)]
        self._sent = 0
        self.failures: list[str] = []

    @property
    def sent(self) -> int:
        with self._lock:
            return self._sent

    def __enter__(self) -> PredictLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _client(self) -> None:
        while not self._stop.is_set():
            failure = ""
            try:
                status, body = self._send()
                if status != 200 or json.loads(body) != EXPECTED:
                    failure = f"{status} {body[:200]!r}"
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"
            with self._lock:
                self._sent += 1
                if failure:
                    self.failures.append(failure)


@pytest.mark.parametrize("workers", WORKERS)
def test_new_version_serves_and_no_request_fails_during_the_swap(
    tmp_path: Path, workers: int
) -> None:
    """With transport workers the load (a new connection per request) reaches every
    process, and each then serves the new version and refuses the old one."""
    source = tfserving_model("saved_model_half_plus_two_2_versions")
    base = tmp_path / "half_plus_two"
    base.mkdir()
    publish_version(source / "00000123", base, 123)
    with running_server(
        "--model_name=half_plus_two",
        f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=1",
        workers=workers,
    ) as server:

        def send() -> Outcome:
            return server.post("/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0]})

        with PredictLoad(send) as load:
            wait_until(lambda: load.sent > 50, timeout=60, what="traffic before the swap")
            publish_version(source / "00000124", base, 124)
            wait_until(
                lambda: server.model_states("half_plus_two") == {124: "AVAILABLE", 123: "END"},
                timeout=60,
                what="version 124 available and 123 unloaded",
            )
            before = load.sent
            wait_until(lambda: load.sent > before + 50, timeout=60, what="traffic after")
        assert load.failures == []
        new = rest_on_each_process(
            server, "POST", "/v1/models/half_plus_two/versions/124:predict", {"instances": [1.0]}
        )
        assert [status for status, _ in new.values()] == [200] * workers
        old = rest_on_each_process(
            server, "POST", "/v1/models/half_plus_two/versions/123:predict", {"instances": [1.0]}
        )
        assert [(status, json.loads(body)) for status, body in old.values()] == [
            (404, {"error": "Servable not found for request: Specific(half_plus_two, 123)"})
        ] * workers


def test_the_load_counts_a_request_that_raises_or_fails_as_a_failure() -> None:
    calls = iter(range(1_000_000))
    good = (200, json.dumps(EXPECTED).encode())

    def flaky_send() -> Outcome:
        call = next(calls)
        if call == 5:
            raise ConnectionResetError(104, "Connection reset by peer")
        if call == 7:
            return 503, b'{"error": "busy"}'
        return good

    with PredictLoad(flaky_send, threads=2) as load:
        wait_until(lambda: load.sent > 20, timeout=10, what="requests past the failures")

    assert sorted(load.failures) == [
        '503 b\'{"error": "busy"}\'',
        "ConnectionResetError: [Errno 104] Connection reset by peer",
    ]
