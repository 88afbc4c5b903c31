"""The email in headless Chromium: phone and desktop widths, light and dark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.rendering import render_issue
from tests.conftest import ROOT
from tests.render_support import project

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def emails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("render-browser")
    cfg, archive = project(folder)
    out = {}
    for plan in archive.plans():
        result = render_issue(cfg, plan.id)
        out[plan.edition] = result.email_html
        out[f"{plan.edition}-web"] = result.web_html
    return out


@pytest.mark.parametrize("edition", ["sunday", "midweek"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 600])
def test_email_in_chromium(
    browser: Any, emails: dict[str, Path], edition: str, scheme: str, width: int
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": width, "height": 800}, color_scheme=scheme, java_script_enabled=True
    )
    try:
        page = context.new_page()
        page.route("**/*", _local_only)
        page.goto(emails[edition].as_uri())
        page.screenshot(path=str(ARTIFACTS / f"{edition}-{width}-{scheme}.png"), full_page=True)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"horizontal scrolling: {scroll_width} > {width}"
        headline = page.locator("h2.title").first
        box = headline.bounding_box()
        assert box is not None
        if width == 600:
            assert box["y"] < 800, "top story's headline is below the first screen"
        body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        text_color = page.evaluate("getComputedStyle(document.querySelector('h2.title a')).color")
        if scheme == "dark":
            assert body_bg == "rgb(15, 17, 21)"
            assert text_color == "rgb(244, 242, 238)"
        else:
            assert body_bg == "rgb(241, 238, 231)"
            assert text_color == "rgb(20, 23, 28)"
    finally:
        context.close()


@pytest.mark.parametrize("edition", ["sunday", "midweek"])
def test_web_version_in_chromium(browser: Any, emails: dict[str, Path], edition: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme="dark")
    try:
        page = context.new_page()
        page.route("**/*", _local_only)
        page.goto(emails[f"{edition}-web"].as_uri())
        page.screenshot(path=str(ARTIFACTS / f"{edition}-web-375-dark.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert "Hi there," in page.inner_text("body")
        assert "%" not in page.inner_text("body")
    finally:
        context.close()


def _local_only(route: Any) -> None:
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        route.abort()
