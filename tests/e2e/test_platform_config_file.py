"""``--platform_config_file``: a text ``PlatformConfigMap`` replaces the session flags, as
in TensorFlow Serving. Each entry is a SavedModel platform with its own
``SessionBundleConfig`` (batching, session config, tags, warmup), and a model's
``model_platform`` picks its entry; a file the server cannot honour refuses the start."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from tests.support import saved_models
from tests.support.faults import write_model_config
from tests.support.server_process import refused_start, running_server

pytestmark = pytest.mark.e2e

_ADAPTER = "[type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig]"


def _platform(name: str, legacy_config: str) -> str:
    return (
        f'platform_configs {{ key: "{name}" value {{ source_adapter_config {{ '
        f"{_ADAPTER} {{ legacy_config {{ {legacy_config} }} }} }} }} }}\n"
    )


def test_each_platform_runs_with_its_own_session_bundle_config(tmp_path: Path) -> None:
    saved_models.write_half_plus_two(tmp_path / "batched" / "1")
    saved_models.write_half_plus_two(tmp_path / "plain" / "1")
    saved_models.write_blocking_model(tmp_path / "block" / "1")
    platforms = tmp_path / "platforms.config"
    platforms.write_text(
        _platform(
            "tensorflow",
            "batching_parameters { max_batch_size { value: 2 } batch_timeout_micros { value: 0 } }",
        )
        + _platform(
            "tensorflow_timed",
            'session_config { operation_timeout_in_ms: 300 } saved_model_tags: "serve"',
        )
    )
    flags_batching = tmp_path / "batching.config"  # ignored: the file replaces the flags
    flags_batching.write_text("max_batch_size { value: 100 }\n")
    config = write_model_config(
        tmp_path / "models.config",
        {
            "batched": tmp_path / "batched",
            "plain:tensorflow_timed": tmp_path / "plain",
            "block:tensorflow_timed": tmp_path / "block",
        },
    )
    with running_server(
        f"--model_config_file={config}",
        f"--platform_config_file={platforms}",
        "--enable_batching",
        f"--batching_parameters_file={flags_batching}",
    ) as server:
        # The file's batching for `tensorflow`: 2 rows at most, not the flags' 100.
        status, body = server.post("/v1/models/batched:predict", {"instances": [1.0] * 3})
        assert (status, json.loads(body)) == (
            400,
            {"error": "Task size 3 is larger than maximum input batch size 2"},
        )
        status, body = server.post("/v1/models/batched:predict", {"instances": [1.0] * 2})
        assert (status, json.loads(body)) == (200, {"predictions": [2.5, 2.5]})
        # The other platform is not batched, and its sessions carry its own timeout.
        status, body = server.post("/v1/models/plain:predict", {"instances": [1.0] * 3})
        assert (status, json.loads(body)) == (200, {"predictions": [2.5] * 3})
        error = saved_models.blocking_predict_error(server.grpc_target, "block")
        assert isinstance(error, grpc.RpcError), error
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    log = server.log()
    assert "platform_config_file is accepted" not in log
    assert (
        "--enable_batching, --batching_parameters_file ignored: --platform_config_file "
        "configures the SavedModel platforms" in log
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "platform_configs { key: 1 }",
            "INVALID_ARGUMENT: Error parsing text-format tensorflow.serving.PlatformConfigMap: 1:",
        ),
        (
            _platform("tensorflow", 'session_target: "grpc://elsewhere:8500"'),
            "INVALID_ARGUMENT: Platform 'tensorflow': session_target 'grpc://elsewhere:8500' "
            "is not supported",
        ),
    ],
    ids=["does-not-parse", "remote-session"],
)
def test_a_platform_config_file_the_server_cannot_honour_refuses_the_start(
    tmp_path: Path, text: str, error: str
) -> None:
    saved_models.write_half_plus_two(tmp_path / "m" / "1")
    platforms = tmp_path / "platforms.config"
    platforms.write_text(text)
    done = refused_start(
        "--model_name=m",
        f"--model_base_path={tmp_path / 'm'}",
        f"--platform_config_file={platforms}",
    )
    assert done.returncode == 1
    assert f"Failed to start server. Error: {error}" in done.stderr
