"""An input of the wrong rank is an error for that request, never the server's end.

TensorFlow does not check the shape of fed tensors, and its oneDNN Conv2D kernel
aborts the process (a CHECK failure) on a rank-3 image batch. The server turns
oneDNN's custom ops off unless ``TF_ENABLE_ONEDNN_OPTS`` is set, so the standard
kernel answers with InvalidArgument instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.saved_models import write_conv_model
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

PREDICT = "/v1/models/conv:predict"


@pytest.fixture(scope="module")
def conv_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("conv") / "conv"
    write_conv_model(base / "1")
    # The test session turns oneDNN off for itself; the server must not depend on that.
    user_default = {"TF_ENABLE_ONEDNN_OPTS": ""}
    with running_server(
        "--model_name=conv", f"--model_base_path={base}", env=user_default
    ) as server:
        wait_until(lambda: server.model_states("conv").get(1) == "AVAILABLE", timeout=60)
        yield server


def _scores(server: ServerProcess) -> list[list[float]]:
    status, body = server.post(PREDICT, {"instances": np.ones((1, 8, 8, 1)).tolist()})
    assert status == 200, body
    return json.loads(body)["predictions"]


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": np.ones((8, 8, 1)).tolist()},  # one image without its batch dimension
        {"instances": np.ones((2, 8, 8)).tolist()},  # images without their channel
        {"inputs": np.ones((4,)).tolist()},
    ],
    ids=["rank3-image", "no-channel", "vector"],
)
def test_wrong_rank_gets_400_and_the_server_keeps_serving(
    conv_server: ServerProcess, body: dict[str, object]
) -> None:
    status, answer = conv_server.post(PREDICT, body)
    assert status == 400, answer
    assert "4-dimensional" in json.loads(answer)["error"]
    assert conv_server.alive()
    np.testing.assert_allclose(_scores(conv_server), [[1.0, 1.0]], rtol=1e-5)
