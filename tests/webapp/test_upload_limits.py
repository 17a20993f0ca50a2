"""Bodies the web app can't use: each limit has its own message, broken framing is a 400.

Most cases run through the test client; broken chunked framing needs a real HTTP server, so
those run against the real web app process (gunicorn).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.webapp.digits import png_bytes, render_digit
from tests.webapp.fake_model_server import FakeModelServer
from tests.webapp.webapp_process import WebAppProcess, running_webapp

BOUNDARY = "limits-boundary"
TEN_MB = 10 * 1024 * 1024


def multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A ``multipart/form-data`` body of (name, filename or None for a text field, data)."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def digit_with_padding(total_size: int) -> bytes:
    """A form with a digit image and a padding file, ``total_size`` bytes in all."""
    digit = ("image", "digit.png", png_bytes(render_digit(3)))
    model = ("model", None, b"mnist")
    without_padding = len(multipart(digit, model, ("padding", "padding.bin", b"")))
    padding = b"p" * (total_size - without_padding)
    return multipart(digit, model, ("padding", "padding.bin", padding))


def post_body(client: FlaskClient, body: bytes, path: str = "/api/predict", **environ: object):
    return client.post(
        path,
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        environ_overrides=environ,
    )


def assert_json_error(response: TestResponse, status: int, *words: str) -> None:
    assert response.status_code == status, response.data[:500]
    body = response.get_json()
    assert set(body) == {"error", "hint"}
    for word in words:
        assert word in body["error"], body


class BrokenChunks(io.RawIOBase):
    """A WSGI input stream that fails as gunicorn's does on a chunk size of ``zz``."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        raise OSError("Invalid chunk size: 'zz'")


@pytest.mark.parametrize("size", [TEN_MB - 1, TEN_MB])
def test_a_body_up_to_exactly_the_limit_is_accepted(client: FlaskClient, size: int) -> None:
    body = digit_with_padding(size)
    assert len(body) == size

    # gunicorn marks every request's stream as terminated; that is when the limit misfired.
    response = post_body(client, body, **{"wsgi.input_terminated": True})

    assert response.status_code == 200, response.data[:300]
    assert response.get_json()["predictions"][0]["label"] == "3"


def test_a_body_one_byte_over_the_limit_is_413(client: FlaskClient) -> None:
    response = post_body(client, digit_with_padding(TEN_MB + 1))

    assert_json_error(response, 413, "larger than the 10 MB limit")


def test_too_many_form_parts_get_their_own_message(client: FlaskClient) -> None:
    fields = [(f"field{i}", None, b"x" * 20) for i in range(1500)]
    body = multipart(("image", "digit.png", png_bytes(render_digit(3))), *fields)
    assert 100_000 < len(body) < 200_000

    response = post_body(client, body)

    assert_json_error(response, 413, "1,501 fields", "at most 1,000")
    assert "MB" not in response.get_json()["error"]


def test_an_oversized_text_field_gets_its_own_message(client: FlaskClient) -> None:
    body = multipart(
        ("image", "digit.png", png_bytes(render_digit(3))), ("model", None, b"m" * 600_000)
    )

    response = post_body(client, body)

    assert_json_error(response, 413, "form field other than the image", "500,000 bytes")


def test_a_thousand_parts_and_a_field_at_its_limit_are_accepted(client: FlaskClient) -> None:
    fields = [(f"field{i}", None, b"x") for i in range(997)]
    body = multipart(
        ("image", "digit.png", png_bytes(render_digit(5))),
        ("model", None, b"mnist"),
        ("padding", None, b" " * 500_000),
        *fields,
    )

    response = post_body(client, body)

    assert response.status_code == 200, response.data[:300]
    assert response.get_json()["model"] == "mnist"


def test_a_body_the_server_cannot_read_is_a_400_in_json(client: FlaskClient) -> None:
    response = client.post(
        "/api/predict",
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        environ_overrides={
            "wsgi.input": io.BufferedReader(BrokenChunks()),
            "wsgi.input_terminated": True,
            "CONTENT_LENGTH": "",
        },
    )

    assert_json_error(response, 400, "could not be read", "Invalid chunk size")


def test_a_malformed_form_is_a_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/predict", data=b"--x\r\nnonsense", content_type="multipart/form-data"
    )

    assert_json_error(response, 400, "form is malformed")


def test_the_predict_page_shows_a_limit_error_above_the_form(client: FlaskClient) -> None:
    body = multipart(
        ("image", "digit.png", png_bytes(render_digit(3))), ("model", None, b"m" * 600_000)
    )

    response = post_body(client, body, path="/")

    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Form field too large" in page
    assert "<form" in page


@pytest.mark.parametrize("page", ["²", "١", "-1", "1e3", "9" * 5000, "", "x"])
def test_history_page_numbers_that_are_not_plain_digits_show_a_page(
    client: FlaskClient, page: str
) -> None:
    response = client.get("/history", query_string={"page": page})

    assert response.status_code == 200
    assert "History" in response.get_data(as_text=True)


def test_a_version_of_non_ascii_digits_is_an_unknown_version(client: FlaskClient) -> None:
    body = multipart(
        ("image", "digit.png", png_bytes(render_digit(3))),
        ("model", None, b"mnist"),
        ("version", None, "²".encode()),
    )

    assert_json_error(post_body(client, body), 404, "versions are numbers")


# --- The same through gunicorn, with framing only a real server sees -------------------


@pytest.fixture(scope="module")
def webapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebAppProcess]:
    fake = FakeModelServer().start()
    images_dir = tmp_path_factory.mktemp("limits") / "predict_images"
    try:
        with running_webapp(fake.url, images_dir) as process:
            yield process
    finally:
        fake.stop()


def raw_post(path: str, payload: bytes, *headers: str) -> bytes:
    """A POST of ``payload`` as sent on the wire, after ``headers`` that frame it."""
    head = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        "Connection: close",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def split_answer(answer: bytes) -> tuple[int, str, bytes]:
    """(status, Content-Type, body) of a raw HTTP/1.1 answer without chunked framing."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    types = [
        line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("content-type:")
    ]
    return int(lines[0].split()[1]), (types or [""])[0], body


def chunked(data: bytes, size: int = 1_000_000) -> bytes:
    """``data`` in well-formed chunks of ``size`` bytes, with the last chunk."""
    chunks = (data[i : i + size] for i in range(0, len(data), size))
    return b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"


def broken_framing(case: str, body: bytes) -> tuple[bytes, str]:
    """(payload, framing header) of a body whose framing is broken as ``case`` says."""
    if case == "chunk size zz":
        return b"zz\r\n" + body + b"\r\n0\r\n\r\n", "Transfer-Encoding: chunked"
    if case == "chunk without its CRLF":  # the chunk's data runs on into the next size line
        return f"{len(body):x}\r\n".encode() + body + b"XX0\r\n\r\n", "Transfer-Encoding: chunked"
    return body, f"Content-Length: {len(body) + 1000}"  # the body ends before its length


BROKEN_FRAMINGS = ["chunk size zz", "chunk without its CRLF", "body shorter than its length"]


@pytest.mark.slow
@pytest.mark.parametrize("case", BROKEN_FRAMINGS)
@pytest.mark.parametrize("path", ["/api/predict", "/"])
def test_broken_framing_through_gunicorn_is_a_400_in_the_apps_format(
    webapp: WebAppProcess, case: str, path: str
) -> None:
    payload, header = broken_framing(
        case, multipart(("image", "d.png", png_bytes(render_digit(3))))
    )

    status, content_type, answer = split_answer(webapp.send_raw(raw_post(path, payload, header)))

    assert status == 400, answer[:300]
    if path.startswith("/api/"):
        assert content_type == "application/json"
        assert "could not be read" in json.loads(answer)["error"]
    else:
        assert content_type.startswith("text/html")
        assert b"The upload arrived damaged" in answer


@pytest.mark.slow
def test_gunicorn_accepts_a_chunked_body_of_exactly_ten_mb(webapp: WebAppProcess) -> None:
    payload = chunked(digit_with_padding(TEN_MB))

    status, _, answer = split_answer(
        webapp.send_raw(raw_post("/api/predict", payload, "Transfer-Encoding: chunked"))
    )

    assert status == 200, answer[:300]
    assert json.loads(answer)["predictions"][0]["label"] == "3"


@pytest.mark.slow
def test_gunicorn_serves_on_after_broken_framing(webapp: WebAppProcess) -> None:
    for _ in range(3):
        webapp.send_raw(raw_post("/api/predict", b"zz\r\n", "Transfer-Encoding: chunked"))
    body = multipart(("image", "digit.png", png_bytes(render_digit(8))), ("model", None, b"mnist"))

    status, _, answer = split_answer(
        webapp.send_raw(raw_post("/api/predict", body, f"Content-Length: {len(body)}"))
    )

    assert status == 200, answer[:300]
    assert json.loads(answer)["predictions"][0]["label"] == "8"
    assert "Traceback" not in webapp.log()
