"""One model's queued calls never take the worker threads another model needs.

A Python servable with ``max_concurrency = 1`` whose call blocks, four requests to it,
and two model worker threads: before lanes, the second call held the other worker,
blocked on the servable's slot, and a request to any other model waited for the first
to end. Now the calls past the limit wait in the servable's lane, holding no thread.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.python_servables import write_version
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BLOCKED = """
import time
from pathlib import Path

import tensorserve

F = tensorserve.TensorSpec("float32", [-1])


class Blocked(tensorserve.Servable):
    max_concurrency = 1
    signatures = {"serving_default": tensorserve.Signature(inputs={"x": F}, outputs={"y": F})}

    def load(self, context):
        self.models = Path(context.path).parent.parent

    def predict(self, inputs, context):
        gate = self.models / "gate"
        (self.models / "entered").touch()
        for _ in range(3000):  # until the test opens the gate (30 s at most)
            if gate.exists():
                break
            time.sleep(0.01)
        return {"y": inputs["x"]}
"""

QUICK = """
import tensorserve

F = tensorserve.TensorSpec("float32", [-1])


class Quick(tensorserve.Servable):
    signatures = {"serving_default": tensorserve.Signature(inputs={"x": F}, outputs={"y": F})}

    def predict(self, inputs, context):
        return {"y": inputs["x"] * 2}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("isolation")
    write_version(root / "models" / "blocked", 1, {"servable.py": BLOCKED})
    write_version(root / "models" / "quick", 1, {"servable.py": QUICK})
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'config {{ name: "{name}" base_path: "{root / "models" / name}" '
            'model_platform: "python" }\n'
            for name in ("blocked", "quick")
        )
        + "}\n"
    )
    with running_server(f"--model_config_file={config}", "--rest_api_num_threads=2") as process:
        yield process, root / "models"


def test_another_model_answers_while_calls_queue_for_a_busy_one(
    server: tuple[ServerProcess, Path],
) -> None:
    process, models = server
    body = {"instances": [1.0]}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        blocked = [pool.submit(process.post, "/v1/models/blocked:predict", body) for _ in range(4)]
        try:
            wait_until(lambda: (models / "entered").exists(), timeout=30, what="a blocked call")
            status, answer = process.post("/v1/models/quick:predict", body, timeout=10)
            assert (status, json.loads(answer)) == (200, {"predictions": [2.0]})
            assert not any(call.done() for call in blocked)  # all still held at the gate
        finally:
            (models / "gate").touch()
        assert [call.result()[0] for call in blocked] == [200] * 4
