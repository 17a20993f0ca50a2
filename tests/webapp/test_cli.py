"""The ``webapp`` sub-command: flag parsing, and one real launch under gunicorn."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tensorserve.webapp.cli import add_parser, config_from_args, run
from tensorserve.webapp.config import InputScale
from tests.support.waiting import wait_until
from tests.webapp.digits import png_bytes, render_digit
from tests.webapp.fake_model_server import FakeModelServer

LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["webapp", *argv])


def test_flags_become_a_typed_config() -> None:
    args = parse(
        "--server-url",
        "http://model:8501",
        "--images-dir",
        "uploads",
        "--max-upload-mb",
        "2",
        "--models",
        "mnist, colors",
        "--timeout",
        "1.5",
        "--input-scale",
        "symmetric",
    )

    config = config_from_args(args)

    assert args.func is run
    assert config.server_url == "http://model:8501"
    assert config.images_dir == Path("uploads")
    assert config.max_upload_bytes == 2 * 1024 * 1024
    assert config.models == ("mnist", "colors")
    assert config.request_timeout_s == 1.5
    assert config.input_scale is InputScale.SYMMETRIC


def test_defaults_match_the_documented_command() -> None:
    args = parse()

    assert (args.server_url, args.host, args.port) == ("http://127.0.0.1:8501", "127.0.0.1", 8080)
    assert args.images_dir == Path("predict_images")


@pytest.mark.slow
def test_gunicorn_serves_the_app_with_two_workers(
    fake_server: FakeModelServer, tmp_path: Path
) -> None:
    log_path = tmp_path / "webapp.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorserve.webapp",
                "--server-url",
                fake_server.url,
                "--port",
                "0",
                "--images-dir",
                str(tmp_path / "images"),
                "--workers",
                "2",
                "--threads",
                "2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        port = wait_until(
            lambda: (m := LISTENING.search(log_path.read_text())) and m.group(1),
            timeout=60,
            what="gunicorn to listen",
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=60)

        response = httpx.post(
            f"{url}/api/predict",
            files={"image": ("six.png", png_bytes(render_digit(6)), "image/png")},
            data={"model": "mnist"},
            timeout=30,
        )

        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == "6"
        assert log_path.read_text().count("Booting worker") == 2
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
