"""The web app when its model server is down, slow or restarting: a clear error, then recovery.

The real web app process (gunicorn) talks to the real ``tensorserve serve`` process, which
serves ``colors`` (a 32x32 RGB model with fixed weights that names an image's dominant
colour) and ``broken`` (its only version fails to load). Faults are injected on the server
process itself: SIGTERM (down), SIGSTOP (slow: connections are accepted by the kernel but
never answered), and a restart on the same ports. The web app is never restarted.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.e2e.test_webapp_real_server import COLOUR_LABELS, RED, build_colour_model
from tests.export.conftest import export_keras_model
from tests.support.server_process import ServerProcess, free_port, running_server
from tests.support.waiting import wait_until
from tests.webapp.digits import png_bytes
from tests.webapp.webapp_process import WebAppProcess, running_webapp

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

TIMEOUT_S = 2
RED_PNG = png_bytes(Image.new("RGB", (40, 30), RED))


@dataclass
class ModelServerPorts:
    """A model server's config and the ports it keeps across restarts."""

    config: Path
    grpc_port: int
    rest_port: int

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def start(self) -> AbstractContextManager[ServerProcess]:
        return running_server(
            f"--model_config_file={self.config}",
            "--max_num_load_retries=0",
            ports=(self.grpc_port, self.rest_port),
        )


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> ModelServerPorts:
    root = tmp_path_factory.mktemp("faults")
    export_keras_model(build_colour_model(), root / "models", "colors", labels=COLOUR_LABELS)
    broken_version = root / "models" / "broken" / "1"
    broken_version.mkdir(parents=True)
    (broken_version / "saved_model.pb").write_bytes(b"not a SavedModel")
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{root / "models" / name}" '
            'model_platform: "tensorflow" }\n'
            for name in ("colors", "broken")
        )
        + "}\n"
    )
    return ModelServerPorts(config, free_port(), free_port())


@pytest.fixture(scope="module")
def webapp(
    model_server: ModelServerPorts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebAppProcess]:
    images_dir = tmp_path_factory.mktemp("faults-web") / "predict_images"
    with running_webapp(
        model_server.rest_url, images_dir, "--timeout", str(TIMEOUT_S), "--threads", "4"
    ) as process:
        yield process


def predict(webapp: WebAppProcess, model: str = "colors") -> httpx.Response:
    return httpx.post(
        f"{webapp.url}/api/predict",
        files={"image": ("red.png", RED_PNG, "image/png")},
        data={"model": model},
        timeout=TIMEOUT_S * 10,
    )


def assert_predicts_red(webapp: WebAppProcess) -> None:
    response = predict(webapp)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "red"


def assert_json_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "hint"} and body["hint"]
    for word in words:
        assert word in body["error"], body


def assert_error_page(response: httpx.Response, status: int, title: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert f'<h2 id="error-title">{title}</h2>' in response.text
    assert "What to do:" in response.text


def test_server_down_is_a_502_and_the_app_recovers_when_it_is_back(
    model_server: ModelServerPorts, webapp: WebAppProcess
) -> None:
    with model_server.start():
        assert_predicts_red(webapp)

    assert_json_error(predict(webapp), 502, "Could not reach the model server")
    assert_json_error(httpx.get(f"{webapp.url}/api/models"), 502, "Could not reach")
    for page in ("/", "/models"):
        assert_error_page(httpx.get(webapp.url + page), 502, "Model server unreachable")
    assert httpx.get(f"{webapp.url}/history").status_code == 200

    with model_server.start():
        assert_predicts_red(webapp)
        assert httpx.get(f"{webapp.url}/").status_code == 200
    assert webapp.alive()


def test_slow_server_is_a_504_and_the_app_recovers_when_it_answers_again(
    model_server: ModelServerPorts, webapp: WebAppProcess
) -> None:
    with model_server.start() as server:
        assert_predicts_red(webapp)
        server.process.send_signal(signal.SIGSTOP)
        try:
            assert_json_error(predict(webapp), 504, f"within {TIMEOUT_S} s")
            assert_error_page(httpx.get(f"{webapp.url}/", timeout=30), 504, "Model server too slow")
        finally:
            server.process.send_signal(signal.SIGCONT)

        assert_predicts_red(webapp)


def test_a_model_without_an_available_version_is_a_503(
    model_server: ModelServerPorts, webapp: WebAppProcess
) -> None:
    with model_server.start() as server:
        wait_until(
            lambda: server.model_states("broken") == {1: "END"}, what="broken version to fail"
        )

        assert_json_error(predict(webapp, "broken"), 503, "no AVAILABLE version", "1: END")
        assert_predicts_red(webapp)


def test_a_restart_under_load_gives_only_clear_errors_then_predictions(
    model_server: ModelServerPorts, webapp: WebAppProcess
) -> None:
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                response = predict(webapp)
                error = response.json().get("error", "")
                answers.append((response.status_code, error))
            except Exception as failure:  # a failure of the web app itself: counted, not lost
                answers.append((0, f"{type(failure).__name__}: {failure}"))

    threads = [threading.Thread(target=client) for _ in range(3)]
    with model_server.start():
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: len(answers) > 10, timeout=60, what="predictions before")
        except BaseException:
            stop.set()
            raise
    try:
        down_since = len(answers)
        wait_until(lambda: len(answers) > down_since + 10, timeout=60, what="answers while down")
        with model_server.start():
            back_since = len(answers)
            wait_until(
                lambda: any(status == 200 for status, _ in answers[back_since:]),
                timeout=60,
                what="predictions after the restart",
            )
            after = len(answers)
            wait_until(lambda: len(answers) > after + 10, timeout=60, what="more predictions")
            until = len(answers)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert {status for status, _ in answers} <= {200, 502}, answers
    assert all(
        "Could not reach the model server" in error for status, error in answers if status == 502
    ), json.dumps(answers)
    # Once one prediction succeeds, all do (give the other threads' requests in flight a pass).
    assert all(status == 200 for status, _ in answers[after + len(threads) : until]), answers
    assert "Traceback" not in webapp.log()
