"""Faults in the model directories of a running server: a version deleted while it
serves, a corrupt ``variables`` file. Each ends in a clear state and error, and the
model ``good`` answers every request throughout. A model on a platform the server does
not know is a config error, as in TensorFlow Serving: the start is refused with its text.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import saved_models
from tests.support.faults import predicts_half_plus_two, version_statuses, write_model_config
from tests.support.server_process import ServerProcess, refused_start, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fault_models")
    saved_models.write_half_plus_two(root / "good" / "1")
    saved_models.write_half_plus_two(root / "deleted" / "1")
    saved_models.write_half_plus_two(root / "deleted" / "2", a=0.5, b=3.0)
    saved_models.write_half_plus_two(root / "corrupt" / "1")
    return root


@pytest.fixture(scope="module")
def server(models: Path) -> Iterator[ServerProcess]:
    config = write_model_config(
        models / "models.config",
        {
            "good": models / "good",
            "deleted": models / "deleted",
            "corrupt": models / "corrupt",
        },
    )
    with running_server(
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    ) as server:
        yield server


@pytest.fixture
def good_answers_every_request(server: ServerProcess) -> Iterator[None]:
    """Sends predictions to ``good`` during the test; every one must succeed."""
    failures: list[tuple[int, bytes]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.wait(0.05):
            status, body = server.post("/v1/models/good:predict", {"instances": [1.0]})
            if status != 200 or json.loads(body) != {"predictions": [2.5]}:
                failures.append((status, body))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert predicts_half_plus_two(server, "good")


def predict_one(server: ServerProcess, name: str) -> tuple[int, object]:
    status, body = server.post(f"/v1/models/{name}:predict", {"instances": [1.0]})
    return status, json.loads(body)


@pytest.mark.usefixtures("good_answers_every_request")
def test_deleting_the_serving_version_falls_back_then_unloads_the_model(
    server: ServerProcess, models: Path
) -> None:
    assert predict_one(server, "deleted") == (200, {"predictions": [3.5]})
    shutil.rmtree(models / "deleted" / "2")
    wait_until(
        lambda: (
            {v: s.state for v, s in version_statuses(server, "deleted").items()}
            == {1: "AVAILABLE", 2: "END"}
        ),
        timeout=60,
        what="version 1 to take over from the deleted version 2",
    )
    assert version_statuses(server, "deleted")[2].error_code == "OK"  # unloaded, not failed
    assert predict_one(server, "deleted") == (200, {"predictions": [2.5]})

    shutil.rmtree(models / "deleted" / "1")
    wait_until(
        lambda: (
            version_statuses(server, "deleted").get(1) is not None
            and version_statuses(server, "deleted")[1].state == "END"
        ),
        timeout=60,
        what="the last version to unload once deleted",
    )
    assert predict_one(server, "deleted") == (
        404,
        {"error": "Servable not found for request: Latest(deleted)"},
    )
    status, body = server.get("/readyz")
    assert status == 503
    assert "No versions of servable deleted found" in body.decode()


@pytest.mark.usefixtures("good_answers_every_request")
def test_a_version_with_a_corrupt_variables_file_ends_with_the_reason(
    server: ServerProcess, models: Path, tmp_path: Path
) -> None:
    staged = tmp_path / "2"
    shutil.copytree(models / "corrupt" / "1", staged)
    data = staged / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(bytes(reversed(data.read_bytes())))
    os.rename(staged, models / "corrupt" / "2")  # published whole: only its content is bad
    wait_until(
        lambda: (
            version_statuses(server, "corrupt").get(2) is not None
            and version_statuses(server, "corrupt")[2].state == "END"
        ),
        timeout=60,
        what="the corrupt version to fail",
    )
    failed = version_statuses(server, "corrupt")[2]
    assert failed.error_code == "DATA_LOSS"
    assert failed.error_message.startswith(
        f"Failed to load SavedModel at {models / 'corrupt' / '2'}: "
    )
    assert "Checksum does not match" in failed.error_message
    assert version_statuses(server, "corrupt")[1].state == "AVAILABLE"
    assert predicts_half_plus_two(server, "corrupt")  # version 1 keeps serving


def test_a_model_on_an_unknown_platform_refuses_the_start(tmp_path: Path) -> None:
    saved_models.write_half_plus_two(tmp_path / "good" / "1")
    saved_models.write_half_plus_two(tmp_path / "odd" / "1")
    config = write_model_config(
        tmp_path / "models.config",
        {"good": tmp_path / "good", "odd:caffe": tmp_path / "odd"},
    )
    done = refused_start(f"--model_config_file={config}")
    assert done.returncode == 1
    assert (
        "Failed to start server. Error: INVALID_ARGUMENT: "
        "Model odd requests unsupported platform caffe"
    ) in done.stdout + done.stderr
