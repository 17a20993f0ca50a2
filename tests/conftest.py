"""Test-wide settings and session fixtures.

TensorFlow's log level is set before anything imports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tensorserve.demo.setup import DemoPaths


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    """The MNIST demo trained, exported and sampled once per session (~40 s on 2 cores)."""
    from tensorserve.demo.setup import prepare_demo

    return prepare_demo(tmp_path_factory.mktemp("demo"), progress=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium for one module's browser tests (skips when absent)."""
    from tests.support.browser import launched_browser

    with launched_browser() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, live_url: str) -> Iterator[Page]:
    """A fresh page on the module's ``live_url`` that fails the test on any page error."""
    from tests.support.browser import opened_page

    with opened_page(browser, live_url) as opened:
        yield opened
