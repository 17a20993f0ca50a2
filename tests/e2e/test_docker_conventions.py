"""TensorFlow Serving's Docker conventions: MODEL_NAME and MODEL_BASE_PATH pick the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.paths import tfserving_model
from tests.support.server_process import running_server

pytestmark = pytest.mark.e2e


def test_model_name_and_base_path_come_from_the_environment(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tfserving_model("saved_model_half_plus_two_cpu"), models / "half_plus_two")
    env = {"MODEL_NAME": "half_plus_two", "MODEL_BASE_PATH": str(models)}
    # As the image's entrypoint passes them: only ports (and an unknown flag) on the line.
    with running_server("--an_unknown_flag=1", env=env) as server:
        status, body = server.post(
            "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}
        )
        assert (status, json.loads(body)) == (200, {"predictions": [2.5, 3.0, 4.5]})
        assert "unknown argument: --an_unknown_flag=1" in server.log()
