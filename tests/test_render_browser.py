"""The email in headless Chromium: phone and desktop widths, light, dark and forced dark.

Screenshots go to ``tests/artifacts/`` (not committed): both editions and a quiet week (2
stories), at 375 and 600 px, in light, dark (``prefers-color-scheme``) and forced dark — Gmail
and Yahoo ignore dark-mode CSS and invert the light design themselves, emulated here with a CSS
``invert`` filter. axe-core runs on the email and on web.html (WCAG A/AA, zero violations).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.curation import assemble_issue
from newsletter.rendering import render_issue
from tests.browser_support import axe_violations, launch, needs_chromium
from tests.conftest import ROOT
from tests.render_support import project

ARTIFACTS = ROOT / "tests" / "artifacts"
# Gmail, Yahoo and Outlook.com's forced dark mode inverts the lightness and keeps the hues.
FORCED_DARK = "html { filter: invert(1) hue-rotate(180deg); background: #fff; }"
SAMPLE_SUNDAY_AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
HEIGHT_BEFORE = 5528
"""The sample Sunday issue's height at 375 px before issue 11 (the number the issue quotes)."""

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture(scope="module")
def emails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("render-browser")
    cfg, archive = project(folder)
    out: dict[str, Path] = {}
    for plan in list(archive.plans()):
        result = render_issue(cfg, plan.id)
        out[plan.edition] = result.email_html
        out[f"{plan.edition}-web"] = result.web_html
        if plan.edition == "sunday":
            quiet = plan.model_copy(
                update={"id": "2026-11-29-sunday", "stories": plan.stories[:2], "guides": []}
            )
            archive.save_plan(quiet)
            q = render_issue(cfg, quiet.id)
            out["quiet"], out["quiet-web"] = q.email_html, q.web_html
    return out


@pytest.fixture(scope="module")
def assembled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """The sample Sunday issue as ``make demo`` assembles it (real curation, 10 stories)."""
    cfg, _ = project(tmp_path_factory.mktemp("render-sample-sunday"))
    plan = assemble_issue(cfg, "sunday", SAMPLE_SUNDAY_AT).plan
    render_issue(cfg, plan.id)
    return cfg, plan.id


def _open(browser: Any, path: Path, width: int, scheme: str) -> tuple[Any, Any]:
    context = browser.new_context(
        viewport={"width": width, "height": 800},
        color_scheme="light" if scheme == "forced-dark" else scheme,
    )
    page = context.new_page()
    page.route("**/*", _local_only)
    page.goto(path.as_uri())
    if scheme == "forced-dark":
        page.add_style_tag(content=FORCED_DARK)
    return context, page


@pytest.mark.parametrize("edition", ["sunday", "midweek", "quiet"])
@pytest.mark.parametrize("scheme", ["light", "dark", "forced-dark"])
@pytest.mark.parametrize("width", [375, 600])
def test_email_in_chromium(
    browser: Any, emails: dict[str, Path], edition: str, scheme: str, width: int
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page = _open(browser, emails[edition], width, scheme)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{edition}-{width}-{scheme}.png"), full_page=True)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"horizontal scrolling: {scroll_width} > {width}"
        box = page.locator("h3.title").first.bounding_box()
        assert box is not None
        if width == 600 and edition != "sunday":
            assert box["y"] < 800, "top story's headline is below the first screen"
        top = page.locator(".top-box").first.bounding_box()
        assert top is not None and top["y"] < (1100 if edition == "sunday" else 800)
        body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        title = page.evaluate("getComputedStyle(document.querySelector('h3.title a')).color")
        if scheme == "dark":
            assert body_bg == "rgb(15, 17, 21)" and title == "rgb(244, 242, 238)"
        else:  # light, and forced dark (the client inverts the light design)
            assert body_bg == "rgb(241, 238, 231)" and title == "rgb(20, 23, 28)"
        if scheme != "forced-dark":  # axe reads styles, not the filter a client applies
            assert axe_violations(page) == [], f"{edition} {width} {scheme}"
    finally:
        context.close()


@pytest.mark.parametrize("edition", ["sunday", "midweek", "quiet"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_web_version_in_chromium(
    browser: Any, emails: dict[str, Path], edition: str, scheme: str
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page = _open(browser, emails[f"{edition}-web"], 375, scheme)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{edition}-web-375-{scheme}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        text = page.inner_text("body")
        assert "Hi there," in text and "%" not in text
        assert axe_violations(page) == [], f"{edition} web {scheme}"
    finally:
        context.close()


def test_quiet_week_has_no_contents_list(browser: Any, emails: dict[str, Path]) -> None:
    context, page = _open(browser, emails["quiet"], 375, "light")
    try:
        assert page.locator("h3.title").count() == 2
        assert page.locator(".toc").count() == 0
    finally:
        context.close()


def test_sample_sunday_is_shorter_smaller_and_keeps_every_story(
    browser: Any, assembled: tuple[Settings, str]
) -> None:
    cfg, issue_id = assembled
    archive = Archive(cfg.archive_dir)
    plan = archive.load_plan(issue_id)
    path = archive.issue_dir(issue_id) / "email.html"
    size = path.stat().st_size
    context, page = _open(browser, path, 375, "light")
    try:
        height = page.evaluate("document.documentElement.scrollHeight")
        page.screenshot(path=str(ARTIFACTS / "sample-sunday-375-light.png"), full_page=True)
        titles = page.locator("h3.title").all_inner_texts()
        toc = page.locator(".toc").count()
    finally:
        context.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "sample-sunday.json").write_text(
        json.dumps({"height_375": height, "before": HEIGHT_BEFORE, "bytes": size}, indent=2)
    )
    assert len(plan.stories) == 10
    assert [" ".join(t.split()) for t in titles] == [s.item.title for s in plan.stories]
    assert toc == len(plan.stories)
    assert size < 60 * 1024, f"{size / 1024:.1f} KB"
    assert height <= HEIGHT_BEFORE * 0.75, f"{height} px at 375 (before: {HEIGHT_BEFORE})"


def _local_only(route: Any) -> None:
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        route.abort()
