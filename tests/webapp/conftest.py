"""Fixtures of the web app tests: a fake TF Serving REST server and apps pointed at it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tensorserve.webapp import WebAppConfig, create_app
from tests.support.server_process import free_port
from tests.webapp.fake_model_server import FakeModelServer

AppFactory = Callable[..., Flask]


@pytest.fixture
def fake_server() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def dead_server_url() -> str:
    """A URL where nothing listens (a port the OS just handed out and took back, and
    which no server a later test starts is given)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    return tmp_path / "predict_images"


@pytest.fixture
def make_app(fake_server: FakeModelServer, images_dir: Path) -> AppFactory:
    """Builds an app for the fake server; keyword arguments override config fields."""

    def build(**overrides: Any) -> Flask:
        config = WebAppConfig(
            server_url=fake_server.url,
            images_dir=images_dir,
            request_timeout_s=5.0,
            extra_flask_config={"TESTING": True},
        )
        return create_app(replace(config, **overrides))

    return build


@pytest.fixture
def client(make_app: AppFactory) -> FlaskClient:
    return make_app().test_client()


@pytest.fixture
def live_url(make_app: AppFactory) -> Iterator[str]:
    """The app served over real HTTP by werkzeug on a free port, in a thread."""
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
