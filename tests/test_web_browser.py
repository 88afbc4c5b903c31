"""Click through the real app in headless Chromium: preview, toggles, Approve, unsubscribe."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from browser_support import launch, needs_chromium, serve
from conftest import ROOT
from web_support import (
    add_subscriber,
    project,
    secrets,
    sqlite_engine,
    subscriber,
    token,
    write_issue,
)

from newsletter.archive import Archive
from newsletter.web import create_app

pytestmark = needs_chromium
ARTIFACTS = ROOT / "tests" / "artifacts" / "web"
ISSUE = "2026-11-22-sunday"


@dataclass
class Site:
    url: str
    archive: Archive
    engine: sa.Engine


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    cfg = project(tmp_path)
    archive = Archive(cfg.archive_dir)
    write_issue(archive, ISSUE)
    write_issue(archive, "2026-11-18-midweek", status="sent")
    engine = sqlite_engine(tmp_path)
    app = create_app(cfg, secrets(), engine=engine)
    for url in serve(app):
        yield Site(url=url, archive=archive, engine=engine)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_editor_clicks_through_preview_and_approves(site: Site, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site.url + "/")
    assert page.title().startswith("Issues")
    _shot(page, "01-issue-list")

    page.get_by_role("link", name=ISSUE).click()
    page.wait_for_url(f"**/issues/{ISSUE}/edit")
    frame_el = page.locator("#email-frame")
    frame_el.wait_for()
    frame = page.frame_locator("#email-frame")
    frame.locator("#top-story").wait_for()
    assert frame_el.evaluate("el => el.getBoundingClientRect().width") == 680
    _shot(page, "02-issue-desktop")

    page.get_by_role("link", name="Mobile (375 px)").click()
    page.wait_for_url("**view=mobile**")
    page.frame_locator("#email-frame").locator("#top-story").wait_for()
    inner = page.locator("#email-frame").element_handle().content_frame()
    width = inner.evaluate("() => window.innerWidth")
    assert width == 375
    assert inner.evaluate("() => document.documentElement.scrollWidth") <= 375
    _shot(page, "03-issue-mobile")

    page.get_by_role("link", name="Dark").click()
    page.wait_for_url("**scheme=dark**")
    page.frame_locator("#email-frame").locator("#top-story").wait_for()
    inner = page.locator("#email-frame").element_handle().content_frame()
    background = inner.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 17, 17)"  # the email's own dark-mode rule applies
    _shot(page, "04-issue-mobile-dark")

    assert page.locator("#checks tbody tr").count() == 3
    assert "Hi Ada," in page.locator("pre.text").inner_text()

    page.get_by_role("button", name="Approve for sending").click()
    page.wait_for_url("**approved=1**")
    assert page.locator("#status").inner_text() == "approved"
    assert page.get_by_role("button", name="Approve for sending").count() == 0
    _shot(page, "05-issue-approved")
    plan = json.loads(site.archive.file(ISSUE, "issue.json").read_text())
    assert plan["status"] == "approved"

    page.goto(site.url + "/")
    assert "approved" in page.locator("tbody tr").first.inner_text()
    page.close()


def test_subscriber_unsubscribes_from_the_confirmation_page(site: Site, browser: Any) -> None:
    sid = add_subscriber(site.engine, "ada@example.com")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{site.url}/unsubscribe?t={token(sid, 'ada@example.com')}")
    assert page.get_by_role("heading").first.inner_text().startswith("Unsubscribe from")
    assert subscriber(site.engine, sid)["status"] == "active"  # looking changes nothing
    _shot(page, "10-unsubscribe-confirm")

    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You're unsubscribed").wait_for()
    _shot(page, "11-unsubscribed")
    row = subscriber(site.engine, sid)
    assert row["status"] == "unsubscribed" and row["unsubscribed_at"] is not None

    page.get_by_role("link", name="Changed your mind? Choose your editions").click()
    page.get_by_label("Sunday").check()
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_role("status").wait_for()
    _shot(page, "12-preferences-saved")
    row = subscriber(site.engine, sid)
    assert (row["status"], row["wants_midweek"], row["wants_sunday"]) == ("active", False, True)

    page.goto(f"{site.url}/unsubscribe?t=1.forged")
    assert page.get_by_role("heading").first.inner_text() == "This link does not work"
    _shot(page, "13-bad-link")
    page.close()


def test_real_rendered_issue_in_the_preview(tmp_path: Path, browser: Any) -> None:
    """The render step's real output: mobile has no sideways scroll, dark shows dark styles."""
    from newsletter.rendering import render_issue
    from newsletter.rendering.sample import sample_plan
    from newsletter.sources import load_content

    cfg = project(tmp_path)
    archive = Archive(cfg.archive_dir)
    plan = sample_plan(load_content(cfg).catalog, "sunday", datetime(2026, 11, 22, 8, tzinfo=UTC))
    archive.save_plan(plan)
    render_issue(cfg, plan.id)
    app = create_app(cfg, secrets(), engine=sqlite_engine(tmp_path))
    for url in serve(app):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/")
        summary = page.locator("tbody tr").first.inner_text()
        assert re.search(r"[1-9]\d* pass", summary), summary  # the render step's checks.json
        page.goto(f"{url}/issues/{plan.id}/edit?view=mobile&scheme=light")
        frame = page.locator("#email-frame").element_handle().content_frame()
        frame.wait_for_load_state()
        assert frame.evaluate("() => window.innerWidth") == 375
        assert frame.evaluate("() => document.documentElement.scrollWidth") <= 375
        light = frame.evaluate("() => getComputedStyle(document.body).backgroundColor")
        page.goto(f"{url}/issues/{plan.id}/edit?view=mobile&scheme=dark")
        frame = page.locator("#email-frame").element_handle().content_frame()
        frame.wait_for_load_state()
        dark = frame.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert light != dark and dark == "rgb(15, 17, 21)"  # templates/email/dark.css
        _shot(page, "20-real-issue-mobile-dark")
        page.close()
