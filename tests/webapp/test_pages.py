"""The HTML pages: the predict form and result, error pages with status codes, history, models."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from PIL import Image

from tests.webapp.conftest import AppFactory
from tests.webapp.digits import png_bytes, render_digit
from tests.webapp.fake_model_server import FakeModelServer


def submit(client: FlaskClient, data: bytes, filename: str = "a.png", **fields: str) -> str:
    form: dict[str, object] = {"image": (io.BytesIO(data), filename), **fields}
    response = client.post("/", data=form, content_type="multipart/form-data")
    return f"{response.status_code} {response.get_data(as_text=True)}"


def test_predict_page_offers_only_models_with_an_available_version(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)

    assert '<option value="mnist"' in page
    assert '<option value="colors"' in page
    assert '<option value="broken"' not in page
    assert 'data-model="mnist"' in page


def test_predict_result_shows_image_classes_version_and_round_trip(client: FlaskClient) -> None:
    page = submit(client, png_bytes(render_digit(3)), model="mnist", version="1")

    assert page.startswith("200 ")
    assert 'id="top-label">3</strong>' in page
    assert '<dd id="result-version">1</dd>' in page
    assert "ms to the model server" in page
    assert "<meter" in page
    assert 'src="/images/' in page


def test_predict_error_is_shown_above_the_form_with_its_status(client: FlaskClient) -> None:
    page = submit(client, b"plain text", filename="notes.txt")

    assert page.startswith("415 ")
    assert 'role="alert"' in page
    assert "What to do:" in page
    assert 'id="predict-form"' in page


def test_predict_page_explains_a_server_that_is_down(
    make_app: AppFactory, dead_server_url: str
) -> None:
    client = make_app(server_url=dead_server_url).test_client()

    response = client.get("/")

    assert response.status_code == 502
    assert "Model server unreachable" in response.get_data(as_text=True)


def test_predict_page_reports_an_oversized_upload_as_413(make_app: AppFactory) -> None:
    client = make_app(max_upload_bytes=10_000).test_client()

    page = submit(client, png_bytes(Image.effect_noise((200, 200), 80)))

    assert page.startswith("413 ")
    assert "Upload too large" in page


def test_models_page_shows_states_errors_and_signatures(client: FlaskClient) -> None:
    page = client.get("/models").get_data(as_text=True)

    assert "badge-available" in page
    assert "END" in page and "no SavedModel bundle found" in page
    assert "<code>image_bytes</code>" in page and "DT_STRING" in page
    assert "<code>[-1, 32, 32, 3]</code>" in page


def test_models_page_for_an_unreachable_server_is_a_502_page(
    make_app: AppFactory, dead_server_url: str
) -> None:
    client = make_app(server_url=dead_server_url).test_client()

    response = client.get("/models")

    assert response.status_code == 502
    assert "--server-url" in response.get_data(as_text=True)


def test_history_lists_uploads_newest_first_in_pages(make_app: AppFactory) -> None:
    client = make_app(history_page_size=2).test_client()
    for digit in (1, 2, 3):
        submit(client, png_bytes(render_digit(digit)), model="mnist")

    first = client.get("/history").get_data(as_text=True)
    second = client.get("/history?page=2").get_data(as_text=True)

    assert first.count('class="card history-item"') == 2
    assert first.index("classified as 3") < first.index("classified as 2")
    assert "Page 1 of 2" in first and 'rel="next"' in first
    assert second.count('class="card history-item"') == 1 and "classified as 1" in second
    assert "Page 2 of 2" in client.get("/history?page=99").get_data(as_text=True)
    assert "Page 1 of 2" in client.get("/history?page=abc").get_data(as_text=True)


def test_empty_history_invites_a_first_prediction(client: FlaskClient) -> None:
    assert "Nothing yet" in client.get("/history").get_data(as_text=True)


def test_unknown_page_is_an_html_404(client: FlaskClient) -> None:
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert "Back to Predict" in response.get_data(as_text=True)


def test_pages_forbid_inline_scripts_and_foreign_assets(
    client: FlaskClient, fake_server: FakeModelServer
) -> None:
    response = client.get("/")

    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    page = response.get_data(as_text=True).replace(fake_server.url, "")
    assert "http://" not in page and "https://" not in page


def test_static_assets_are_served_locally(client: FlaskClient) -> None:
    for asset in ("style.css", "predict.js", "favicon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200
