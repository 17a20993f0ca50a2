"""Helpers of the fault-injection tests (tests/e2e/test_faults_*.py): model configs
written to disk, and what the real server reports about each version."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

from tests.support.server_process import ServerProcess


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One entry of ``GET /v1/models/<name>``'s ``model_version_status``."""

    state: str
    error_code: str
    error_message: str


def version_statuses(server: ServerProcess, name: str) -> dict[int, VersionStatus]:
    """Every version the server reports for ``name`` (empty when it reports none)."""
    status, body = server.get(f"/v1/models/{name}")
    if status != 200:
        return {}
    return {
        int(entry["version"]): VersionStatus(
            entry["state"],
            entry["status"]["error_code"],
            entry["status"].get("error_message", ""),
        )
        for entry in json.loads(body)["model_version_status"]
    }


def write_model_config(path: Path, models: Mapping[str, Path | str]) -> Path:
    """A ``--model_config_file`` serving ``models`` (name -> base path); a name of the
    form ``name:platform`` sets that model's platform (default ``tensorflow``)."""
    blocks = []
    for key, base in models.items():
        name, _, model_platform = key.partition(":")
        blocks.append(
            f'  config {{ name: "{name}" base_path: "{base}" '
            f'model_platform: "{model_platform or "tensorflow"}" }}'
        )
    staging = path.with_name(path.name + ".tmp")
    staging.write_text("model_config_list {\n" + "\n".join(blocks) + "\n}\n")
    staging.replace(path)  # the server's poller never reads half a file
    return path


def predicts_half_plus_two(server: ServerProcess, name: str) -> bool:
    """Whether ``name`` answers ``y = 0.5 x + 2`` over REST right now."""
    status, body = server.post(f"/v1/models/{name}:predict", {"instances": [1.0, 2.0]})
    return status == 200 and json.loads(body) == {"predictions": [2.5, 3.0]}
