"""Answers from the model server that are not what TF Serving sends: a 502 that says so.

A wrong ``--server-url`` (another JSON API) or a broken proxy must not become a 500 of the
web app. The answers come from the fake server, with one endpoint's answer replaced.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from tensorserve.webapp import WebAppConfig, create_app
from tests.webapp.digits import png_bytes, render_digit
from tests.webapp.fake_model_server import FakeModelServer

ODD_ANSWERS: list[tuple[str, Any]] = [
    ("/tensorserve/v1/models", {"models": [{"nam": "mnist"}]}),
    ("/tensorserve/v1/models", {"models": [1]}),
    ("/tensorserve/v1/models", {"models": [{"name": "m", "model_version_status": [1]}]}),
    ("/tensorserve/v1/models", ["not", "an", "object"]),
    ("/v1/models/mnist", {"model_version_status": "x"}),
    ("/v1/models/mnist", {"model_version_status": [{"version": "2", "status": 3}]}),
    ("/metadata", {"metadata": []}),
    ("/metadata", {"metadata": {"signature_def": {"signature_def": {"serving_default": []}}}}),
    (
        "/metadata",
        {
            "metadata": {
                "signature_def": {
                    "signature_def": {
                        "serving_default": {
                            "inputs": {"x": {"tensor_shape": {"dim": [{"size": "abc"}]}}}
                        }
                    }
                }
            }
        },
    ),
    (":predict", {"predictions": [{"classes": ["a"], "scores": ["x"]}]}),
    (":predict", {"predictions": [{"classes": 3, "scores": {"a": 1}}]}),
    (":predict", {"predictions": [5]}),
    (":predict", {"predictions": []}),
    (":predict", {"outputs": 1}),
]


def client_with_odd_answer(path_part: str, answer: Any, images_dir: Path) -> FlaskClient:
    """An app whose model server answers ``answer`` wherever the path contains ``path_part``."""
    fake = FakeModelServer()  # used for its answers only; never started

    def handle(request: httpx.Request) -> httpx.Response:
        if path_part in request.url.path:
            return httpx.Response(200, json=answer)
        status, body = fake.handle(request.method, request.url.path, request.content)
        return httpx.Response(status, json=body)

    config = WebAppConfig(server_url="http://model-server", images_dir=images_dir)
    return create_app(config, transport=httpx.MockTransport(handle)).test_client()


@pytest.mark.parametrize(("path_part", "answer"), ODD_ANSWERS)
def test_an_answer_of_an_unexpected_shape_is_a_502_that_says_so(
    path_part: str, answer: Any, images_dir: Path
) -> None:
    client = client_with_odd_answer(path_part, answer, images_dir)
    form = {"image": (io.BytesIO(png_bytes(render_digit(1))), "one.png")}
    if not path_part.startswith("/tensorserve"):
        form["model"] = "mnist"  # type: ignore[assignment]

    response = client.post("/api/predict", data=form, content_type="multipart/form-data")

    assert response.status_code == 502, response.data[:300]
    assert "does not understand" in response.get_json()["error"]


@pytest.mark.parametrize("page", ["/", "/models"])
def test_pages_show_an_odd_model_list_as_a_502(page: str, images_dir: Path) -> None:
    client = client_with_odd_answer("/tensorserve/v1/models", {"models": [1]}, images_dir)

    response = client.get(page)

    assert response.status_code == 502
    assert "Model server answer not understood" in response.get_data(as_text=True)


def test_the_predict_page_asks_an_unreachable_server_once(images_dir: Path) -> None:
    requests: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        raise httpx.ConnectTimeout("timed out", request=request)

    config = WebAppConfig(server_url="http://model-server", images_dir=images_dir)
    client = create_app(config, transport=httpx.MockTransport(refuse)).test_client()
    form = {"image": (io.BytesIO(png_bytes(render_digit(1))), "one.png"), "model": "mnist"}

    response = client.post("/", data=form, content_type="multipart/form-data")

    assert response.status_code == 504
    assert len(requests) == 1, requests
