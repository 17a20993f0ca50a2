"""The JSON API against the fake TF Serving: good predictions and every kind of bad input."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from tests.webapp.conftest import AppFactory
from tests.webapp.digits import png_bytes, render_digit
from tests.webapp.fake_model_server import FakeModelServer


def post_image(
    client: FlaskClient, data: bytes, filename: str = "digit.png", **fields: str
) -> TestResponse:
    form: dict[str, object] = {"image": (io.BytesIO(data), filename), **fields}
    return client.post("/api/predict", data=form, content_type="multipart/form-data")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width``x``height`` but carries almost no data (a bomb's header)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def assert_error(response: TestResponse, status: int, *words: str) -> None:
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error", "hint"}
    assert body["hint"]
    for word in words:
        assert word in body["error"]


def test_predict_recognises_the_digit_with_labels_from_the_classes_output(
    client: FlaskClient,
) -> None:
    response = post_image(client, png_bytes(render_digit(7)), model="mnist")

    assert response.status_code == 200
    body = response.get_json()
    assert body["model"] == "mnist"
    assert body["version"] == "2"
    assert body["predictions"][0]["label"] == "7"
    scores = [p["score"] for p in body["predictions"]]
    assert scores == sorted(scores, reverse=True)
    assert len(scores) == 5


def test_predict_sends_an_exact_version_and_reports_it(
    client: FlaskClient, fake_server: FakeModelServer
) -> None:
    response = post_image(client, png_bytes(render_digit(4)), model="mnist", version="1")

    assert response.get_json()["version"] == "1"
    assert fake_server.recorded_predict_paths() == ["/v1/models/mnist/versions/1:predict"]


def test_predict_without_a_version_resolves_the_newest_available_one(
    client: FlaskClient, fake_server: FakeModelServer
) -> None:
    post_image(client, png_bytes(render_digit(4)), model="mnist")

    assert fake_server.recorded_predict_paths() == ["/v1/models/mnist/versions/2:predict"]


def test_rgb_float_model_gets_a_resized_scaled_tensor_and_index_labels(
    client: FlaskClient,
) -> None:
    green = Image.new("RGB", (64, 48), (10, 220, 30))

    response = post_image(client, png_bytes(green), model="colors")

    assert response.status_code == 200
    body = response.get_json()
    assert [p["label"] for p in body["predictions"]] == ["1", "2", "0"]
    assert body["predictions"][0]["score"] == pytest.approx(220 / 260, abs=0.01)


def test_upload_is_saved_under_a_generated_name_with_a_sidecar(
    client: FlaskClient, images_dir: Path
) -> None:
    response = post_image(client, png_bytes(render_digit(2)), filename="../../x.png")

    name = response.get_json()["image"]
    assert name.endswith(".png") and "x" not in name.split("-")[0]
    assert sorted(p.name for p in images_dir.iterdir()) == sorted(
        [name, name.replace(".png", ".json")]
    )
    sidecar = json.loads((images_dir / name).with_suffix(".json").read_text())
    assert sidecar["original_filename"] == "../../x.png"
    assert sidecar["predictions"] == response.get_json()["predictions"]


def test_a_traversal_filename_never_becomes_a_path(
    client: FlaskClient, images_dir: Path, tmp_path: Path
) -> None:
    post_image(client, png_bytes(render_digit(2)), filename="../../x.png")
    post_image(client, png_bytes(render_digit(2)), filename="/etc/x.png")

    assert not (tmp_path / "x.png").exists()
    assert not (images_dir.parent.parent / "x.png").exists()
    assert all(path.parent == images_dir for path in tmp_path.rglob("*x.png"))
    assert client.get("/images/..%2F..%2Fx.png").status_code == 404


def test_saved_extension_follows_the_content_not_the_filename(client: FlaskClient) -> None:
    buffer = io.BytesIO()
    render_digit(5).save(buffer, format="JPEG")

    response = post_image(client, buffer.getvalue(), filename="evil.html")

    assert response.get_json()["image"].endswith(".jpg")
    image = client.get(f"/images/{response.get_json()['image']}")
    assert image.status_code == 200
    assert image.mimetype == "image/jpeg"
    assert image.headers["X-Content-Type-Options"] == "nosniff"


def test_text_file_is_refused_as_not_an_image(client: FlaskClient) -> None:
    response = post_image(client, b"hello, I am text\n", filename="notes.txt")

    assert_error(response, 415, "not an image")


def test_unaccepted_image_format_is_refused(client: FlaskClient) -> None:
    buffer = io.BytesIO()
    render_digit(1).save(buffer, format="TIFF")

    assert_error(post_image(client, buffer.getvalue(), filename="a.tiff"), 415, "TIFF")


def test_truncated_image_is_a_bad_request(client: FlaskClient) -> None:
    data = png_bytes(Image.effect_noise((64, 64), 50))

    assert_error(post_image(client, data[: len(data) // 2]), 400, "could not be decoded")


def test_empty_file_is_a_bad_request(client: FlaskClient) -> None:
    assert_error(post_image(client, b""), 400, "empty")


def test_missing_image_field_is_a_bad_request(client: FlaskClient) -> None:
    response = client.post("/api/predict", data={"model": "mnist"})

    assert_error(response, 400, "empty")


def test_upload_over_the_size_limit_is_413(make_app: AppFactory) -> None:
    client = make_app(max_upload_bytes=50_000).test_client()
    noisy = png_bytes(Image.effect_noise((300, 300), 80))
    assert len(noisy) > 50_000

    assert_error(post_image(client, noisy), 413, "limit")


def test_image_over_the_pixel_limit_is_413(make_app: AppFactory) -> None:
    client = make_app(max_image_pixels=1_000_000).test_client()

    assert_error(post_image(client, png_header_only(2000, 2000)), 413, "2000x2000")


def test_decompression_bomb_is_refused_before_decoding(client: FlaskClient) -> None:
    # 60000 x 60000 is past Pillow's own hard limit, so Image.open raises DecompressionBombError.
    response = post_image(client, png_header_only(60_000, 60_000))

    assert_error(response, 413, "60000x60000")


def test_unknown_model_is_404(client: FlaskClient) -> None:
    response = post_image(client, png_bytes(render_digit(1)), model="nope")

    assert_error(response, 404, "'nope'")


def test_unknown_version_is_404(client: FlaskClient) -> None:
    assert_error(post_image(client, png_bytes(render_digit(1)), model="mnist", version="9"), 404)
    assert_error(post_image(client, png_bytes(render_digit(1)), model="mnist", version="x"), 404)


def test_model_without_an_available_version_is_503(client: FlaskClient) -> None:
    response = post_image(client, png_bytes(render_digit(1)), model="broken")

    assert_error(response, 503, "no AVAILABLE version")


def test_model_server_down_is_502(make_app: AppFactory, dead_server_url: str) -> None:
    client = make_app(server_url=dead_server_url).test_client()

    response = post_image(client, png_bytes(render_digit(1)), model="mnist")

    assert_error(response, 502, "Could not reach the model server")


def test_slow_model_server_is_504(make_app: AppFactory, fake_server: FakeModelServer) -> None:
    client = make_app(request_timeout_s=0.3).test_client()
    fake_server.set_predict_delay(30)

    response = post_image(client, png_bytes(render_digit(1)), model="mnist")

    assert_error(response, 504, "0.3 s")


def test_bad_input_is_reported_even_when_the_server_is_down(
    make_app: AppFactory, dead_server_url: str
) -> None:
    client = make_app(server_url=dead_server_url).test_client()

    assert_error(post_image(client, b"text"), 415)


def test_models_api_lists_every_model_and_version_state(client: FlaskClient) -> None:
    models = {m["name"]: m for m in client.get("/api/models").get_json()["models"]}

    assert [v["version"] for v in models["mnist"]["versions"]] == ["2", "1"]
    assert models["broken"]["versions"][0]["state"] == "END"
    assert "no SavedModel" in models["broken"]["versions"][0]["error_message"]


def test_models_fall_back_to_the_configured_list_when_the_server_has_none(
    make_app: AppFactory, fake_server: FakeModelServer
) -> None:
    fake_server.list_endpoint = False
    client = make_app(models=("mnist", "missing")).test_client()

    models = {m["name"]: m for m in client.get("/api/models").get_json()["models"]}

    assert set(models) == {"mnist", "missing"}
    assert models["mnist"]["versions"][0]["state"] == "AVAILABLE"
    assert "not served" in models["missing"]["error"]


def test_unknown_api_path_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/nothing")

    assert response.status_code == 404
    assert set(response.get_json()) == {"error", "hint"}
