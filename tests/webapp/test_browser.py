"""The predict page in headless Chromium (Debian's package), against the fake model server.

Screenshots go to ``test-artifacts/webapp/`` at the repo root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PIL import Image

from tests.support.browser import CHROMIUM, screenshot, upload
from tests.webapp.digits import png_bytes, render_digit

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)",
        allow_module_level=True,
    )


def test_uploaded_digit_is_recognised(page: Page) -> None:
    page.select_option("#model", "mnist")
    upload(page, "seven.png", png_bytes(render_digit(7)), "image/png")
    with page.expect_navigation():
        page.click("button[value=upload]")

    assert page.inner_text("#top-label") == "7"
    assert page.inner_text("#result-model") == "mnist"
    assert page.inner_text("#result-version") == "2"
    assert page.locator(".scores li").count() == 5
    assert page.eval_on_selector(".result-image", "img => img.naturalWidth") == 200
    screenshot(page, "upload-digit")


def test_dropped_file_is_predicted(page: Page) -> None:
    page.select_option("#model", "mnist")
    data = list(png_bytes(render_digit(4)))
    transfer = page.evaluate_handle(
        """bytes => {
            const transfer = new DataTransfer();
            const file = new File([new Uint8Array(bytes)], "four.png", {type: "image/png"});
            transfer.items.add(file);
            return transfer;
        }""",
        data,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})

    assert page.inner_text("#chosen-file") == "Chosen: four.png"
    with page.expect_navigation():
        page.click("button[value=upload]")
    assert page.inner_text("#top-label") == "4"


def test_digit_drawn_on_the_canvas_is_recognised(page: Page) -> None:
    page.select_option("#model", "mnist")
    box = page.locator("#canvas").bounding_box()
    assert box is not None

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * box["width"], box["y"] + y * box["height"]

    mouse = page.mouse
    mouse.move(*at(0.25, 0.18))
    mouse.down()
    mouse.move(*at(0.75, 0.18), steps=12)
    mouse.move(*at(0.43, 0.86), steps=16)
    mouse.up()
    screenshot(page, "canvas-drawn")
    with page.expect_navigation():
        page.click("#predict-drawing")

    assert page.inner_text("#top-label") == "7"
    assert page.eval_on_selector(".result-image", "img => img.naturalWidth") == 28
    screenshot(page, "canvas-result")


def test_predicting_an_empty_canvas_asks_for_a_drawing(page: Page) -> None:
    page.click("#predict-drawing")

    assert page.is_visible("#draw-error")
    assert page.locator("#result").count() == 0


def test_text_file_shows_a_clear_error(page: Page) -> None:
    upload(page, "notes.txt", b"just some text\n", "text/plain")
    with page.expect_navigation() as navigation:
        page.click("button[value=upload]")

    assert navigation.value.status == 415
    alert = page.locator(".alert-error")
    assert "Not an image" in alert.inner_text()
    assert "Upload a PNG, JPEG" in alert.inner_text()
    screenshot(page, "text-file-error")


def test_rgb_model_of_another_size_works_through_the_same_page(page: Page) -> None:
    page.select_option("#model", "colors")
    visible_versions = page.eval_on_selector_all(
        "#version option", "options => options.filter(o => !o.hidden).map(o => o.value)"
    )
    assert visible_versions == ["", "1"]
    upload(page, "red.png", png_bytes(Image.new("RGB", (120, 90), (230, 20, 20))), "image/png")
    with page.expect_navigation():
        page.click("button[value=upload]")

    assert page.inner_text("#result-model") == "colors"
    assert page.inner_text("#top-label") == "0"
    assert page.input_value("#model") == "colors"
    screenshot(page, "rgb-model")


def test_history_and_models_pages_render(page: Page, live_url: str) -> None:
    upload(page, "three.png", png_bytes(render_digit(3)), "image/png")
    page.select_option("#model", "mnist")
    with page.expect_navigation():
        page.click("button[value=upload]")

    page.click("nav >> text=History")
    assert page.locator(".history-item").count() == 1
    assert page.eval_on_selector(".history-item img", "img => img.naturalWidth") == 200
    screenshot(page, "history")
    page.click("nav >> text=Models")
    assert page.locator("section.model").count() == 3
    screenshot(page, "models")
