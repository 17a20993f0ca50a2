"""Fixtures that run the real server process against TensorFlow Serving's test models."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import tfserving_model
from tests.support.server_process import ServerProcess, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def half_plus_two_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model config serving several of TensorFlow Serving's test models at once."""
    models = {
        "half_plus_two": tfserving_model("saved_model_half_plus_two_cpu"),
        "half_plus_three": tfserving_model("saved_model_half_plus_three"),
        "two_versions": tfserving_model("saved_model_half_plus_two_2_versions"),
        "bad": tfserving_model("bad_half_plus_two"),
        "tf2": tfserving_model("saved_model_half_plus_two_tf2_cpu"),
    }
    blocks = []
    for name, path in models.items():
        policy = "model_version_policy { all {} }" if name == "two_versions" else ""
        labels = (
            'version_labels { key: "stable" value: 123 } '
            'version_labels { key: "canary" value: 124 }'
            if name == "two_versions"
            else ""
        )
        blocks.append(
            f'config {{ name: "{name}" base_path: "{path}" model_platform: "tensorflow" '
            f"{policy} {labels} }}"
        )
    config = tmp_path_factory.mktemp("config") / "models.config"
    config.write_text("model_config_list {\n" + "\n".join(blocks) + "\n}\n")
    return config


@pytest.fixture(scope="module")
def grpc_server_flags() -> tuple[str, ...]:
    """Extra flags choosing the gRPC server; a module parametrizes this to run its
    tests on each kind (``--grpc_server=h2``), the default takes none."""
    return ()


@pytest.fixture(scope="module")
def tfs_server(
    half_plus_two_config: Path, grpc_server_flags: tuple[str, ...]
) -> Iterator[ServerProcess]:
    """One server for the module: every test model, the broken one included."""
    with running_server(
        f"--model_config_file={half_plus_two_config}",
        "--max_num_load_retries=0",
        "--file_system_poll_wait_seconds=1",
        *grpc_server_flags,
    ) as server:
        yield server


def copy_versions(source: Path, destination: Path, versions: list[str]) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for version in versions:
        shutil.copytree(source / version, destination / version)
