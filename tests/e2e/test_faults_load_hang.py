"""A model whose load never finishes: the others load and serve, and
``--load_timeout_seconds`` ends it with a clear error. And a load or a model call
that hangs at SIGTERM does not keep the process past ``--shutdown_timeout_seconds``.

The hanging model is real: its warmup record runs a signature that dequeues from
a queue nothing ever fills, so ``Session.run`` blocks inside TensorFlow.
"""

from __future__ import annotations

import concurrent.futures
import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support import saved_models
from tests.support.faults import predicts_half_plus_two, version_statuses, write_model_config
from tests.support.server_process import running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

LOAD_TIMEOUT_S = 6
#: --shutdown_timeout_seconds=2, and margin for a loaded machine.
EXIT_TIMEOUT_S = 20


def write_hanging_model(version_dir: Path) -> Path:
    saved_models.write_blocking_model(version_dir)
    saved_models.write_warmup_requests(
        version_dir, [saved_models.predict_log({"x": np.float32(1.0)})]
    )
    return version_dir


def test_a_hanging_load_times_out_while_the_other_models_load_and_serve(tmp_path: Path) -> None:
    saved_models.write_half_plus_two(tmp_path / "good" / "1")
    saved_models.write_half_plus_two(tmp_path / "other" / "1")
    write_hanging_model(tmp_path / "hang" / "1")
    write_hanging_model(tmp_path / "hang_later" / "1")
    config = write_model_config(
        tmp_path / "models.config", {"good": tmp_path / "good", "hang": tmp_path / "hang"}
    )
    with running_server(
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1",
        "--num_load_threads=2",
        f"--load_timeout_seconds={LOAD_TIMEOUT_S}",
        "--max_num_load_retries=3",
        "--load_retry_interval_micros=0",
    ) as server:
        # Start-up waited for the hanging load to time out; the good model served.
        assert predicts_half_plus_two(server, "good")
        [(version, status)] = version_statuses(server, "hang").items()
        assert (version, status.state, status.error_code) == (1, "END", "DEADLINE_EXCEEDED")
        assert status.error_message == (
            f"Loading servable {{name: hang version: 1}} did not finish within "
            f"{LOAD_TIMEOUT_S} seconds (--load_timeout_seconds); the attempt was abandoned"
        )
        assert "attempt 2" not in server.log()  # a timed-out load is not retried

        # A model added while another load hangs loads and serves meanwhile.
        write_model_config(
            config,
            {
                "good": tmp_path / "good",
                "hang": tmp_path / "hang",
                "hang_later": tmp_path / "hang_later",
                "other": tmp_path / "other",
            },
        )
        wait_until(
            lambda: (
                version_statuses(server, "hang_later").get(1, None) is not None
                and version_statuses(server, "hang_later")[1].state == "LOADING"
                and predicts_half_plus_two(server, "other")
            ),
            timeout=60,
            what="'other' serving while 'hang_later' is still loading",
        )
        assert predicts_half_plus_two(server, "good")
        wait_until(
            lambda: version_statuses(server, "hang_later")[1].state == "END",
            timeout=60,
            what="the second hanging load to time out",
        )
        assert version_statuses(server, "hang_later")[1].error_code == "DEADLINE_EXCEEDED"
        assert predicts_half_plus_two(server, "good")
        assert predicts_half_plus_two(server, "other")
    assert server.process.returncode == 0  # the abandoned loads do not block shutdown


def test_sigterm_while_the_first_load_hangs_stops_the_server(tmp_path: Path) -> None:
    # No --load_timeout_seconds: the start-up load never ends. The process must still
    # answer SIGTERM, as TensorFlow Serving does, within --shutdown_timeout_seconds.
    write_hanging_model(tmp_path / "hang" / "1")
    with running_server(
        "--model_name=hang",
        f"--model_base_path={tmp_path / 'hang'}",
        "--shutdown_timeout_seconds=2",
        wait_ready=False,
    ) as server:
        wait_until(
            lambda: "Starting to read warmup data" in server.log(),
            timeout=60,
            what="the hanging warmup to start",
        )
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=EXIT_TIMEOUT_S) == 0
    log = server.log()
    assert "Received a signal while starting: stopping without serving" in log
    assert "not every model unloaded within --shutdown_timeout_seconds" in log


def test_sigterm_while_a_later_load_hangs_exits_without_it(tmp_path: Path) -> None:
    # The hanging load runs on a load-pool thread, which the interpreter joins at exit:
    # the process must exit past it rather than wait for SIGKILL.
    saved_models.write_half_plus_two(tmp_path / "good" / "1")
    write_hanging_model(tmp_path / "hang" / "1")
    config = write_model_config(tmp_path / "models.config", {"good": tmp_path / "good"})
    with running_server(
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1",
        "--num_load_threads=2",
        "--shutdown_timeout_seconds=2",
    ) as server:
        write_model_config(config, {"good": tmp_path / "good", "hang": tmp_path / "hang"})
        wait_until(
            lambda: "Starting to read warmup data" in server.log(),
            timeout=60,
            what="the hanging warmup to start",
        )
        assert version_statuses(server, "hang")[1].state == "LOADING"
        assert predicts_half_plus_two(server, "good")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=EXIT_TIMEOUT_S) == 0
    log = server.log()
    assert "not every model unloaded within --shutdown_timeout_seconds" in log
    [stuck] = [line for line in log.splitlines() if "Exiting without waiting for threads" in line]
    assert stuck.endswith("still running: tensorserve-load_0")  # not the idle ones


def test_sigterm_while_a_model_call_hangs_exits_within_the_timeout(tmp_path: Path) -> None:
    # The model's call never returns (its graph waits on an empty queue). At the
    # timeout the shutdown answers its client 503, and the process exits then: waiting
    # for the model threads took 30 s per thread.
    saved_models.write_blocking_model(tmp_path / "block" / "1")
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, path: "/metrics" }\n')
    with (
        running_server(
            "--model_name=block",
            f"--model_base_path={tmp_path / 'block'}",
            f"--monitoring_config_file={monitoring}",
            "--shutdown_timeout_seconds=2",
        ) as server,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        call = pool.submit(server.post, "/v1/models/block:predict", {"instances": [1.0]})
        wait_until(
            lambda: (
                ':tensorserve:inflight_requests{model_name="block"} 1\n'
                in server.get("/metrics")[1].decode()
            ),
            timeout=30,
            what="the call to hang in the model",
        )
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=EXIT_TIMEOUT_S) == 0
        assert time.monotonic() - started < EXIT_TIMEOUT_S
        status, body = call.result(timeout=10)  # as a gRPC call gets UNAVAILABLE then
        assert (status, json.loads(body)) == (503, {"error": "The server is shutting down"})
    assert "not every model unloaded within --shutdown_timeout_seconds" in server.log()
