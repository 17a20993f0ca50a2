"""Headless Chromium for browser tests: Debian's package driven by Playwright.

Never downloads a browser: tests skip when ``/usr/bin/chromium`` is missing
(``make test`` installs it when run as root; see ``.ci/system-packages``). Screenshots go
to ``test-artifacts/webapp/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.paths import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FilePayload, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "webapp"


@contextlib.contextmanager
def launched_browser() -> Iterator[Browser]:
    """Chromium for the duration of the block; skips the test when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(make test does when run as root)"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def opened_page(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh page on ``url`` that fails the test on any script or console error
    (except the 415 the text-file test provokes on purpose)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "status of 415" not in message.text
            else None
        ),
    )
    page.goto(url)
    yield page
    context.close()
    assert problems == []


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def upload(page: Page, name: str, data: bytes, mime: str) -> None:
    payload: FilePayload = {"name": name, "mimeType": mime, "buffer": data}
    page.set_input_files("#image", files=[payload])
