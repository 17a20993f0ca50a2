"""``--enable_per_model_batching_parameters``: with ``--enable_batching``, each version is
batched by its own ``batching_params.pbtxt``, or not batched without one, as in
TensorFlow Serving; a file that does not parse fails that version alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import saved_models
from tests.support.faults import version_statuses, write_model_config
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def _predict(server: ServerProcess, name: str, rows: int) -> tuple[int, dict[str, object]]:
    status, body = server.post(f"/v1/models/{name}:predict", {"instances": [1.0] * rows})
    return status, json.loads(body)


def test_each_version_batches_by_its_own_file_or_not_at_all(tmp_path: Path) -> None:
    for name in ("own", "plain", "bad"):
        saved_models.write_half_plus_two(tmp_path / name / "1")
    (tmp_path / "own" / "1" / "batching_params.pbtxt").write_text(
        "max_batch_size { value: 4 } batch_timeout_micros { value: 0 }\n"
    )
    (tmp_path / "bad" / "1" / "batching_params.pbtxt").write_text("max_batch_size: 4\n")
    common = tmp_path / "batching.config"
    common.write_text("max_batch_size { value: 2 } batch_timeout_micros { value: 0 }\n")
    config = write_model_config(
        tmp_path / "models.config", {name: tmp_path / name for name in ("own", "plain", "bad")}
    )
    with running_server(
        f"--model_config_file={config}",
        "--enable_batching",
        f"--batching_parameters_file={common}",
        "--enable_per_model_batching_parameters",
        "--max_num_load_retries=0",
        wait_ready=False,
    ) as server:
        wait_until(
            lambda: (
                version_statuses(server, "bad").get(1, None) is not None
                and version_statuses(server, "bad")[1].state == "END"
            ),
            timeout=120,
            what="the version with a bad batching file to fail",
        )
        # Its own file: up to 4 rows a request, not the server's 2.
        assert _predict(server, "own", 4) == (200, {"predictions": [2.5] * 4})
        assert _predict(server, "own", 5) == (
            400,
            {"error": "Task size 5 is larger than maximum input batch size 4"},
        )
        # No file: served without batching, so the server's limit of 2 does not apply.
        assert _predict(server, "plain", 5) == (200, {"predictions": [2.5] * 5})
        failed = version_statuses(server, "bad")[1]
        assert failed.error_code == "INVALID_ARGUMENT"
        assert failed.error_message.startswith(
            f"Invalid protobuf file: '{tmp_path / 'bad' / '1' / 'batching_params.pbtxt'}': "
            "Error parsing text-format tensorflow.serving.BatchingParameters"
        )
    assert "enable_per_model_batching_parameters is accepted" not in server.log()
