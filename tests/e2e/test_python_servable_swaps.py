"""Python servables under the lifecycle, with the real server: a hot swap under load
from several threads loses nothing and leaves nothing imported; same-named helper
modules stay apart; a pipeline over a SavedModel being swapped loses nothing."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import threading
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.support.paths import tfserving_model
from tests.support.python_servables import write_version
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VERSIONED = """
import sys
import numpy as np
import tensorserve
from . import helpers

F = tensorserve.TensorSpec("float32", [-1])

class Versioned(tensorserve.Servable):
    signatures = {
        "serving_default": tensorserve.Signature(inputs={"x": F}, outputs={"y": F}),
        "modules": tensorserve.Signature(inputs={"prefix": tensorserve.TensorSpec("string", [1])},
                                         outputs={"count": F}, method="modules"),
    }

    def load(self, context):
        self.marker = context.path.parent / f"unloaded-{context.version}"

    def predict(self, inputs, context):
        return {"y": inputs["x"] + helpers.OFFSET}

    def modules(self, inputs, context):
        prefix = inputs["prefix"][0].decode()
        return {"count": [float(sum(name.startswith(prefix) for name in list(sys.modules)))]}

    def unload(self):
        self.marker.write_text("unloaded")
"""

PIPELINE = """
import tensorserve

F = tensorserve.TensorSpec("float32", [-1])

class Pipeline(tensorserve.Servable):
    signatures = {"serving_default": tensorserve.Signature(inputs={"x": F}, outputs={"y": F})}

    def predict(self, inputs, context):
        out = context.models.predict("half_plus_two", {"x": inputs["x"]})
        return {"y": out["y"] * 10}
"""

ENDLESS = """
import time
import numpy as np
import tensorserve

class Endless(tensorserve.Servable):
    signatures = {"serving_default": tensorserve.Signature(
        inputs={"n": tensorserve.TensorSpec("int64", [1])},
        outputs={"i": tensorserve.TensorSpec("int64", [1])},
        streaming=True,
    )}

    def load(self, context):
        self.marker = context.path.parent / f"closed-{context.version}"

    def predict(self, inputs, context):
        i = 0
        try:
            while True:
                yield {"i": np.array([i])}
                i += 1
                time.sleep(0.02)
        finally:
            self.marker.write_text("closed")
"""

Outcome = tuple[int, bytes]


def publish(files: dict[str, str], base: Path, version: int) -> None:
    """Write a version under a temp name, then rename it into place (as exporters do)."""
    write_version(base, f".tmp-{version}", files)
    (base / f".tmp-{version}").rename(base / str(version))


def versioned(offset: float) -> dict[str, str]:
    return {"servable.py": VERSIONED, "helpers.py": f"OFFSET = {offset}\n"}


class Load:
    """Client threads sending requests until the block ends; every answer not in
    ``accepted`` (or a raised error) is recorded as a failure. Thread-safe."""

    def __init__(
        self, send: Callable[[], Outcome], accepted: Container[object], threads: int = 4
    ) -> None:
        self._send = send
        self._accepted = accepted
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(threads)]
        self.answers: set[str] = set()
        self.sent = 0
        self.failures: list[str] = []

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _client(self) -> None:
        while not self._stop.is_set():
            failure = ""
            try:
                status, body = self._send()
                answer = json.dumps(json.loads(body), sort_keys=True)
                if status != 200 or answer not in self._accepted:
                    failure = f"{status} {body[:200]!r}"
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"
                answer = ""
            with self._lock:
                self.sent += 1
                self.answers.add(answer)
                if failure:
                    self.failures.append(failure)


def _predictions(*values: float) -> str:
    return json.dumps({"predictions": list(values)}, sort_keys=True)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("swaps")


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[ServerProcess]:
    half_plus_two = tfserving_model("saved_model_half_plus_two_2_versions")
    (repository / "half_plus_two").mkdir()
    shutil.copytree(
        half_plus_two / "00000123", repository / "half_plus_two" / "123", copy_function=os.link
    )
    publish(versioned(1.0), repository / "swap", 1)
    publish(versioned(1.0), repository / "helpers", 1)
    publish(versioned(2.0), repository / "helpers", 2)
    publish({"servable.py": PIPELINE}, repository / "pipeline", 1)
    publish({"servable.py": ENDLESS}, repository / "endless_sse", 1)
    publish({"servable.py": ENDLESS}, repository / "endless_grpc", 1)
    config = repository / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'config {{ name: "swap" base_path: "{repository / "swap"}" model_platform: "python" }}\n'
        f'config {{ name: "helpers" base_path: "{repository / "helpers"}" '
        'model_platform: "python" model_version_policy { all {} } }\n'
        f'config {{ name: "pipeline" base_path: "{repository / "pipeline"}" '
        'model_platform: "python" }\n'
        f'config {{ name: "endless_sse" base_path: "{repository / "endless_sse"}" '
        'model_platform: "python" }\n'
        f'config {{ name: "endless_grpc" base_path: "{repository / "endless_grpc"}" '
        'model_platform: "python" }\n'
        f'config {{ name: "half_plus_two" base_path: "{repository / "half_plus_two"}" '
        'model_platform: "tensorflow" }\n'
        "}\n"
    )
    with running_server(
        f"--model_config_file={config}", "--file_system_poll_wait_seconds=1"
    ) as process:
        yield process


def test_version_2_replaces_1_under_load_and_1_is_unloaded_and_gone(
    server: ServerProcess, repository: Path
) -> None:
    def send() -> Outcome:
        return server.post("/v1/models/swap:predict", {"instances": [1.0, 2.0]})

    accepted = {_predictions(2.0, 3.0), _predictions(3.0, 4.0)}
    with Load(send, accepted) as load:
        wait_until(lambda: load.sent > 50, timeout=60, what="traffic before the swap")
        publish(versioned(2.0), repository / "swap", 2)
        wait_until(
            lambda: server.model_states("swap") == {2: "AVAILABLE", 1: "END"},
            timeout=60,
            what="version 2 available and 1 unloaded",
        )
        before = load.sent
        wait_until(lambda: load.sent > before + 50, timeout=60, what="traffic after the swap")
    assert load.failures == []
    assert load.answers == accepted
    assert (repository / "swap" / "unloaded-1").read_text() == "unloaded"
    # Version 2 counts the modules of the server's version-1 package: none is left.
    prefix = "tensorserve_servables._swap_v1_"
    status, body = server.post(
        "/v1/models/swap:predict", {"signature_name": "modules", "instances": [prefix]}
    )
    assert (status, json.loads(body)) == (200, {"predictions": [0.0]})
    status, body = server.post(
        "/v1/models/swap:predict",
        {"signature_name": "modules", "instances": ["tensorserve_servables._swap_v2_"]},
    )
    assert json.loads(body)["predictions"][0] >= 2  # its package, servable and helpers


def test_two_versions_with_same_named_helpers_are_isolated(server: ServerProcess) -> None:
    one = server.post("/v1/models/helpers/versions/1:predict", {"instances": [1.0]})
    two = server.post("/v1/models/helpers/versions/2:predict", {"instances": [1.0]})
    assert (one[0], json.loads(one[1])) == (200, {"predictions": [2.0]})
    assert (two[0], json.loads(two[1])) == (200, {"predictions": [3.0]})


def test_a_pipeline_over_a_saved_model_being_swapped_loses_nothing(
    server: ServerProcess, repository: Path
) -> None:
    def send() -> Outcome:
        return server.post("/v1/models/pipeline:predict", {"instances": [1.0, 2.0]})

    source = tfserving_model("saved_model_half_plus_two_2_versions")
    with Load(send, {_predictions(25.0, 30.0)}) as load:
        wait_until(lambda: load.sent > 50, timeout=60, what="traffic before the swap")
        tmp = repository / "half_plus_two" / ".tmp-124"
        shutil.copytree(source / "00000124", tmp, copy_function=os.link)
        tmp.rename(repository / "half_plus_two" / "124")
        wait_until(
            lambda: server.model_states("half_plus_two") == {124: "AVAILABLE", 123: "END"},
            timeout=60,
            what="half_plus_two 124 available and 123 unloaded",
        )
        before = load.sent
        wait_until(lambda: load.sent > before + 50, timeout=60, what="traffic after the swap")
    assert load.failures == []


def _swap_then_release(server: ServerProcess, repository: Path, model: str, close: Any) -> None:
    """Publish version 2 while a stream holds version 1: 1 must wait for the stream,
    then unload promptly once ``close()`` ends it, its generator closed."""
    publish({"servable.py": ENDLESS}, repository / model, 2)
    wait_until(lambda: server.model_states(model).get(2) == "AVAILABLE", timeout=60)
    assert server.model_states(model).get(1) != "END"  # held by the open stream
    assert not (repository / model / "closed-1").exists()
    close()
    wait_until(lambda: server.model_states(model).get(1) == "END", timeout=10, what="v1 unloaded")
    assert (repository / model / "closed-1").read_text() == "closed"


def test_an_sse_client_disconnecting_releases_the_version(
    server: ServerProcess, repository: Path
) -> None:
    body = {"inputs": [{"name": "n", "datatype": "INT64", "shape": [1], "data": [0]}]}
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    connection.request("POST", "/v2/models/endless_sse/infer_stream", json.dumps(body))
    response = connection.getresponse()
    assert response.status == 200
    lines = [response.fp.readline() for _ in range(6)]
    assert sum(line.startswith(b"data: ") for line in lines) >= 2

    def close() -> None:
        response.close()
        connection.close()

    _swap_then_release(server, repository, "endless_sse", close)


def test_a_model_stream_infer_client_cancelling_releases_the_version(
    server: ServerProcess, repository: Path
) -> None:
    request = service_pb2.ModelInferRequest(model_name="endless_grpc", id="forever")
    tensor = request.inputs.add(name="n", datatype="INT64", shape=[1])
    tensor.contents.int64_contents.append(0)
    stop = threading.Event()

    also = service_pb2.ModelInferRequest()
    also.CopyFrom(request)
    also.id = "also forever"

    def requests() -> Iterator[Any]:
        yield request
        yield also  # runs beside the first: requests on one stream are concurrent
        stop.wait(60)  # keep the request side open until the test is done

    channel = grpc.insecure_channel(server.grpc_target)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    call = stub.ModelStreamInfer(requests())
    seen: set[str] = set()
    for _ in range(50):
        seen.add(next(call).infer_response.id)
        if len(seen) == 2:
            break
    assert seen == {"forever", "also forever"}

    def close() -> None:
        call.cancel()
        stop.set()
        channel.close()

    _swap_then_release(server, repository, "endless_grpc", close)
