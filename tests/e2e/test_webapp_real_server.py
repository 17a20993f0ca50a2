"""The web app against the real ``tensorserve serve``: the trained MNIST demo and an RGB model.

One server process serves two models from a model config file: the demo's MNIST export
(``image_bytes`` signature, labels, warmup) and ``colors``, a 32x32x3 float-input model
exported without an image signature whose fixed weights name an image's dominant colour.
The web app runs in this process (werkzeug on a free port) and is driven by headless
Chromium and by its JSON API. Screenshots go to ``test-artifacts/webapp/real-*.png``.
Training the demo takes about a minute once per module.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from tensorserve.demo.setup import DemoPaths
from tensorserve.webapp import WebAppConfig, create_app
from tests.export.conftest import export_keras_model
from tests.support.browser import screenshot as save_screenshot
from tests.support.browser import upload
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until
from tests.webapp.digits import png_bytes

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

COLOUR_LABELS = ("red", "green", "blue")
RED = (230, 20, 20)
BLUE = (20, 30, 220)


def build_colour_model() -> Any:
    """32x32 RGB floats -> mean colour -> softmax over red, green, blue (fixed weights)."""
    import keras
    import numpy as np

    inputs = keras.Input((32, 32, 3), name="pixels")
    mean_colour = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="probabilities")(mean_colour)
    model = keras.Model(inputs, outputs)
    weights = [np.eye(3, dtype="float32") * 20.0, np.zeros(3, dtype="float32")]
    model.get_layer("probabilities").set_weights(weights)
    return model


@pytest.fixture(scope="module")
def demo(trained_demo: DemoPaths) -> DemoPaths:
    """The trained, exported MNIST demo, shared by the session."""
    return trained_demo


@pytest.fixture(scope="module")
def model_config(demo: DemoPaths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config serving ``mnist`` (the demo) and ``colors`` (exported here)."""
    colour_base = tmp_path_factory.mktemp("colour") / "serving_model"
    export_keras_model(build_colour_model(), colour_base, "colors", labels=COLOUR_LABELS)
    config = demo.root / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "mnist" base_path: "{demo.serving_base / "mnist"}" '
        'model_platform: "tensorflow" }\n'
        f'  config {{ name: "colors" base_path: "{colour_base / "colors"}" '
        'model_platform: "tensorflow" }\n'
        "}\n"
    )
    return config


@pytest.fixture(scope="module")
def model_server(model_config: Path) -> Iterator[ServerProcess]:
    with running_server(f"--model_config_file={model_config}") as server:
        wait_until(
            lambda: all(
                server.model_states(name) == {1: "AVAILABLE"} for name in ("mnist", "colors")
            ),
            timeout=120,
            interval=0.1,
            what="mnist and colors AVAILABLE",
        )
        yield server


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web") / "data" / "predict_images"


@pytest.fixture(scope="module")
def app(model_server: ServerProcess, images_dir: Path) -> Flask:
    config = WebAppConfig(
        server_url=model_server.rest_url,
        images_dir=images_dir,
        request_timeout_s=30.0,
        extra_flask_config={"TESTING": True},
    )
    return create_app(config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def live_url(app: Flask) -> Iterator[str]:
    """The app served over real HTTP by werkzeug on a free port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- The JSON API ---------------------------------------------------------------------


def post_image(
    client: FlaskClient, data: bytes, filename: str = "digit.png", **fields: str
) -> TestResponse:
    form: dict[str, object] = {"image": (io.BytesIO(data), filename), **fields}
    return client.post("/api/predict", data=form, content_type="multipart/form-data")


def test_api_recognises_the_held_out_sample_digits(client: FlaskClient, demo: DemoPaths) -> None:
    bodies = {
        int(path.stem): post_image(client, path.read_bytes(), path.name, model="mnist")
        for path in demo.sample_images()
    }

    assert all(response.status_code == 200 for response in bodies.values())
    first = bodies[0].get_json()
    assert set(first) >= {"model", "version", "predictions", "image"}
    assert (first["model"], first["version"]) == ("mnist", "1")
    assert len(first["predictions"]) == 5
    assert set(first["predictions"][0]) == {"label", "score"}
    scores = [p["score"] for p in first["predictions"]]
    assert scores == sorted(scores, reverse=True)
    right = [d for d, r in bodies.items() if r.get_json()["predictions"][0]["label"] == str(d)]
    assert len(right) >= 9, {d: r.get_json()["predictions"][0] for d, r in bodies.items()}


def test_api_predicts_an_exact_version_of_the_rgb_model(client: FlaskClient) -> None:
    image = Image.new("RGB", (48, 20), BLUE)
    response = post_image(client, png_bytes(image), "blue.png", model="colors", version="1")

    assert response.status_code == 200, response.data
    body = response.get_json()
    assert (body["model"], body["version"]) == ("colors", "1")
    assert [p["label"] for p in body["predictions"]] == ["blue", "green", "red"]
    assert "32x32 RGB" in body["input"]


def test_api_scales_a_sixteen_bit_grayscale_png_instead_of_clipping_it(
    client: FlaskClient, demo: DemoPaths
) -> None:
    sample = np.asarray(Image.open(demo.samples_dir / "7.png"), dtype=np.uint16)
    # A dim background: clipped to 8 bits it would turn the whole image white.
    wide = Image.fromarray(np.maximum(sample, 20) * 257)
    assert wide.mode.startswith("I")

    response = post_image(client, png_bytes(wide), "seven-16bit.png", model="mnist")

    assert response.status_code == 200, response.data
    assert response.get_json()["predictions"][0]["label"] == "7"


def test_api_unknown_model_or_version_is_404(client: FlaskClient, demo: DemoPaths) -> None:
    digit = (demo.samples_dir / "3.png").read_bytes()

    unknown_model = post_image(client, digit, model="no_such_model")
    unknown_version = post_image(client, digit, model="mnist", version="7")

    assert unknown_model.status_code == 404
    assert "no_such_model" in unknown_model.get_json()["error"]
    assert unknown_version.status_code == 404
    assert "Version 7" in unknown_version.get_json()["error"]


def test_api_traversal_filename_never_becomes_a_path(
    client: FlaskClient, demo: DemoPaths, images_dir: Path
) -> None:
    response = post_image(client, (demo.samples_dir / "2.png").read_bytes(), "../../x.png")

    assert response.status_code == 200
    name = response.get_json()["image"]
    assert (images_dir / name).is_file()
    sidecar = json.loads((images_dir / name).with_suffix(".json").read_text())
    assert sidecar["original_filename"] == "../../x.png"
    assert list(images_dir.parent.parent.rglob("x.png")) == []
    assert client.get("/images/..%2F..%2Fx.png").status_code == 404


def test_models_page_shows_the_real_signatures_of_both_models(client: FlaskClient) -> None:
    page = client.get("/models").get_data(as_text=True)

    assert page.count('class="card model"') == 2
    assert "image_bytes" in page and "pixels" in page
    assert "[-1, 32, 32, 3]" in page


# --- The predict page in headless Chromium --------------------------------------------


def screenshot(page: Page, name: str) -> None:
    save_screenshot(page, f"real-{name}")


def draw(page: Page, *strokes: list[tuple[float, float]]) -> None:
    """Draw each stroke (points as fractions of the canvas) with the mouse."""
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    for points in strokes:
        (x, y), rest = points[0], points[1:]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=16)
        page.mouse.up()


@pytest.mark.browser
def test_page_recognises_an_uploaded_sample_digit(page: Page, demo: DemoPaths) -> None:
    assert page.eval_on_selector_all("#model option", "os => os.map(o => o.value)") == [
        "colors",
        "mnist",
    ]
    page.select_option("#model", "mnist")
    upload(page, "7.png", (demo.samples_dir / "7.png").read_bytes(), "image/png")
    with page.expect_navigation():
        page.click("button[value=upload]")

    assert page.inner_text("#top-label") == "7"
    assert page.inner_text("#result-model") == "mnist"
    assert page.inner_text("#result-version") == "1"
    assert page.locator(".scores li").count() == 5
    assert page.eval_on_selector(".result-image", "img => img.naturalWidth") == 28
    screenshot(page, "upload-digit")


@pytest.mark.browser
@pytest.mark.parametrize(
    ("digit", "strokes"),
    [
        ("1", [[(0.5, 0.15), (0.5, 0.85)]]),
        ("7", [[(0.25, 0.18), (0.75, 0.18), (0.43, 0.86)]]),
    ],
)
def test_page_recognises_a_digit_drawn_on_the_canvas(
    page: Page, digit: str, strokes: list[list[tuple[float, float]]]
) -> None:
    page.select_option("#model", "mnist")
    draw(page, *strokes)
    with page.expect_navigation():
        page.click("#predict-drawing")

    assert page.locator("#result .scores li").count() == 5
    assert page.eval_on_selector(".result-image", "img => img.naturalWidth") == 28
    screenshot(page, f"canvas-{digit}")
    assert page.inner_text("#top-label") == digit


@pytest.mark.browser
def test_page_explains_that_a_text_file_is_not_an_image(page: Page) -> None:
    upload(page, "notes.txt", b"just some text\n", "text/plain")
    with page.expect_navigation() as navigation:
        page.click("button[value=upload]")

    assert navigation.value.status == 415
    alert = page.locator(".alert-error")
    assert "Not an image" in alert.inner_text()
    assert "Upload a PNG, JPEG" in alert.inner_text()
    screenshot(page, "text-file-error")


@pytest.mark.browser
def test_page_predicts_with_the_rgb_model_of_another_size(page: Page) -> None:
    page.select_option("#model", "colors")
    visible_versions = page.eval_on_selector_all(
        "#version option", "options => options.filter(o => !o.hidden).map(o => o.value)"
    )
    assert visible_versions == ["", "1"]
    upload(page, "red.png", png_bytes(Image.new("RGB", (120, 90), RED)), "image/png")
    with page.expect_navigation():
        page.click("button[value=upload]")

    assert page.inner_text("#result-model") == "colors"
    assert page.inner_text("#result-version") == "1"
    assert page.inner_text("#top-label") == "red"
    assert page.input_value("#model") == "colors"
    screenshot(page, "rgb-model")
