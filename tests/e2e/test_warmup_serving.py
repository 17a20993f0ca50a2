"""Warmup files written by ``tensorserve export`` are replayed by the real server at load,
and a corrupt one fails the load of that version only.

Model ``warm`` is served with the ``all`` version policy: version 1 carries a good warmup
file, version 2 (published while the server runs) a file overwritten with garbage. Model
``plain`` has no warmup file. The loader does not record warmup metrics, so the replay is
observed in the log of logger ``tensorserve.warmup``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.export.conftest import build_custom_layer_model, build_multi_io_model, export_keras_model
from tests.export.custom_layers import CUSTOM_OBJECT_SPEC
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

WARMUP_SAMPLES = 3
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
GARBAGE = b"this is not a TFRecord of PredictionLogs\n" * 8


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``warm/1`` with a good warmup file, ``plain/1`` without one."""
    base_dir = tmp_path_factory.mktemp("warmup_serving") / "serving_model"
    export_keras_model(
        build_custom_layer_model(),
        base_dir,
        "warm",
        custom_objects=(CUSTOM_OBJECT_SPEC,),
        warmup_samples=WARMUP_SAMPLES,
    )
    export_keras_model(build_multi_io_model(), base_dir, "plain")
    return base_dir


@pytest.fixture(scope="module")
def server(base_dir: Path) -> Iterator[ServerProcess]:
    config = base_dir / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "warm" base_path: "{base_dir / "warm"}" '
        'model_platform: "tensorflow" model_version_policy { all {} } }\n'
        f'  config {{ name: "plain" base_path: "{base_dir / "plain"}" '
        'model_platform: "tensorflow" }\n'
        "}\n"
    )
    monitoring = base_dir / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }\n")
    with running_server(
        f"--model_config_file={config}",
        f"--monitoring_config_file={monitoring}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    ) as server:
        wait_until(lambda: server.model_states("warm") == {1: "AVAILABLE"}, what="warm v1")
        wait_until(lambda: server.model_states("plain") == {1: "AVAILABLE"}, what="plain v1")
        yield server


def replay_line(version_dir: Path, records: int) -> re.Pattern[str]:
    """The line ``platforms/tensorflow/warmup.py`` logs after replaying a warmup file."""
    return re.compile(
        r" I tensorserve\.warmup\] Finished reading warmup data for model at "
        + re.escape(str(version_dir / WARMUP_FILE))
        + rf"\. Number of warmup records read: {records}\. "
    )


def predict_ok(server: ServerProcess, path: str, body: dict[str, Any]) -> bool:
    status, _ = server.post(path, body)
    return status == 200


def publish_with_corrupt_warmup(base_dir: Path, scratch: Path) -> Path:
    """Export ``warm`` version 2 elsewhere, overwrite its warmup file, then rename it into
    the served directory in one step, so the server never sees the good file."""
    result = export_keras_model(
        build_custom_layer_model(),
        scratch,
        "warm",
        version=2,
        custom_objects=(CUSTOM_OBJECT_SPEC,),
        warmup_samples=WARMUP_SAMPLES,
    )
    (result.path / WARMUP_FILE).write_bytes(GARBAGE)
    target = base_dir / "warm" / "2"
    os.rename(result.path, target)
    return target


def test_exported_warmup_records_are_replayed_at_load(
    server: ServerProcess, base_dir: Path
) -> None:
    log = server.log()

    assert replay_line(base_dir / "warm" / "1", WARMUP_SAMPLES).search(log), log
    assert f"No warmup data file found at {base_dir / 'plain' / '1' / WARMUP_FILE}" in log
    status, metrics = server.get("/monitoring/prometheus/metrics")
    assert status == 200
    sample = (
        f':tensorflow:serving:model_warmup_records_read{{model_path="{base_dir / "warm" / "1"}",'
        f'status="OK"}} {WARMUP_SAMPLES}'
    )
    assert sample in metrics.decode(), metrics.decode()


def test_corrupt_warmup_file_fails_only_that_version(
    server: ServerProcess, base_dir: Path, tmp_path: Path
) -> None:
    publish_with_corrupt_warmup(base_dir, tmp_path / "scratch")

    wait_until(lambda: server.model_states("warm").get(2) == "END", timeout=60, what="v2 END")

    status, body = server.get("/v1/models/warm")
    assert status == 200
    states = {int(v["version"]): v for v in json.loads(body)["model_version_status"]}
    assert states[1]["state"] == "AVAILABLE"
    assert states[2]["status"]["error_code"] == "DATA_LOSS"
    assert (
        "Please verify your warmup data is in TFRecord format."
        in (states[2]["status"]["error_message"])
    )
    features = np.zeros((1, 4), np.float32).tolist()
    assert predict_ok(server, "/v1/models/warm/versions/1:predict", {"instances": features})
    assert predict_ok(server, "/v1/models/warm:predict", {"instances": features})
    plain = {"inputs": {"a": [[0.0, 0.0, 0.0]], "b": [[[0.0, 0.0], [0.0, 0.0]]]}}
    assert predict_ok(server, "/v1/models/plain:predict", plain)
    assert server.alive()
