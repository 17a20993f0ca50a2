"""The demo's ``digits`` Python servable with the trained MNIST CNN, the real server and
the web app: a colour photo of a digit, of another size, on a white background, is
recognised through ``digits`` where the raw CNN signature fails.

Training the demo takes about a minute once per session (the ``trained_demo`` fixture).
"""

from __future__ import annotations

import base64
import io
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tritonclient.grpc as triton
from flask import Flask
from PIL import Image
from werkzeug.serving import make_server

from tensorserve.demo.setup import DemoPaths
from tensorserve.webapp import WebAppConfig, create_app
from tests.support.browser import screenshot, upload
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

INK = np.array([25, 35, 110], np.float32)  # navy pen
PAPER = np.array([250, 246, 235], np.float32)  # off-white paper


def photo(
    sample: Path, size: tuple[int, int] = (240, 180), at: tuple[int, int] = (30, 20)
) -> bytes:
    """An MNIST sample as a colour JPEG photo: dark ink on white paper, enlarged, off-centre."""
    ink = np.asarray(Image.open(sample).convert("L"), np.float32)[..., None] / 255.0
    digit = (PAPER * (1 - ink) + INK * ink).astype(np.uint8)
    enlarged = Image.fromarray(digit).resize((140, 140), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", size, tuple(int(c) for c in PAPER))
    canvas.paste(enlarged, at)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(trained_demo: DemoPaths) -> Iterator[ServerProcess]:
    config = trained_demo.root / "digits.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "mnist" base_path: "{trained_demo.serving_base / "mnist"}" '
        'model_platform: "tensorflow" }\n'
        f'  config {{ name: "digits" base_path: "{trained_demo.digits_dir.parent}" '
        'model_platform: "python" }\n'
        "}\n"
    )
    with running_server(f"--model_config_file={config}") as process:
        wait_until(
            lambda: process.model_states("digits") == {1: "AVAILABLE"}, timeout=120, what="digits"
        )
        yield process


def _top_label(server: ServerProcess, model: str, image: bytes) -> str:
    body = {"instances": [{"b64": base64.b64encode(image).decode()}]}
    status, answer = server.post(f"/v1/models/{model}:predict", body)
    assert status == 200, answer
    prediction = json.loads(answer)["predictions"][0]
    return str(prediction["classes"][int(np.argmax(prediction["scores"]))])


def test_digits_reads_photos_the_raw_cnn_cannot(
    server: ServerProcess, trained_demo: DemoPaths
) -> None:
    photos = {int(p.stem): photo(p) for p in trained_demo.sample_images()}
    by_digits = {d: _top_label(server, "digits", image) for d, image in photos.items()}
    by_cnn = {d: _top_label(server, "mnist", image) for d, image in photos.items()}
    right_digits = sum(label == str(d) for d, label in by_digits.items())
    right_cnn = sum(label == str(d) for d, label in by_cnn.items())
    assert right_digits >= 9, by_digits
    assert right_cnn <= 3, by_cnn


def test_each_streams_one_result_per_image_over_model_stream_infer(
    server: ServerProcess, trained_demo: DemoPaths
) -> None:
    samples = trained_demo.sample_images()[:3]
    tensor = triton.InferInput("image_bytes", [len(samples)], "BYTES")
    tensor.set_data_from_numpy(np.array([photo(p) for p in samples], dtype=object))
    received: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = triton.InferenceServerClient(server.grpc_target)
    client.start_stream(callback=lambda result, error: received.put((result, error)))
    client.async_stream_infer(
        "digits", [tensor], request_id="batch", parameters={"signature_name": "each"}
    )
    answers = [received.get(timeout=60) for _ in samples]
    client.stop_stream()
    client.close()
    tops = []
    for result, error in answers:
        assert error is None
        classes, scores = result.as_numpy("classes")[0], result.as_numpy("scores")[0]
        tops.append(classes[int(np.argmax(scores))].decode())
    assert tops == [p.stem for p in samples]


@pytest.fixture(scope="module")
def live_url(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    images = tmp_path_factory.mktemp("web") / "predict_images"
    app: Flask = create_app(
        WebAppConfig(server_url=server.rest_url, images_dir=images, request_timeout_s=30.0)
    )
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    http.server_close()
    thread.join(timeout=5)


@pytest.mark.browser
def test_the_web_app_uses_digits_for_a_colour_photo(page: Page, trained_demo: DemoPaths) -> None:
    upload(page, "seven.jpg", photo(trained_demo.samples_dir / "7.png"), "image/jpeg")
    with page.expect_navigation():
        page.click("button[value=upload]")
    assert page.inner_text("#result-model") == "digits"
    assert page.inner_text("#top-label") == "7"
    screenshot(page, "digits-colour-photo")
