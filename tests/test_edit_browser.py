"""An editor shapes the Sunday issue in headless Chromium: keyboard reorder, guide swap, a
story from the bench, the subject, a test send, approval; a stale second page sees the
conflict; the edit page has no WCAG A/AA violations in light and dark."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from browser_support import axe_violations, launch, needs_chromium, serve
from conftest import ROOT
from editor_support import ISSUE, story_ids, sunday_project
from web_support import secrets, sqlite_engine

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.web import create_app

pytestmark = needs_chromium
ARTIFACTS = ROOT / "tests" / "artifacts" / "editor"


@dataclass
class Site:
    url: str
    cfg: Settings
    archive: Archive


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    cfg = sunday_project(tmp_path)
    app = create_app(cfg, secrets(), engine=sqlite_engine(tmp_path))
    for url in serve(app):
        yield Site(url=url, cfg=cfg, archive=Archive(cfg.archive_dir))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _saved(page: Any, version: int) -> None:
    page.locator("#edit-status").filter(has_text=f"Saved: version {version}.").wait_for()
    page.locator(f'#panel[data-version="{version}"]').wait_for(state="attached")


def test_editor_walks_the_issue_to_approval(site: Site, browser: Any) -> None:
    edit_url = f"{site.url}/issues/{ISSUE}/edit"
    stale = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    stale.goto(edit_url)  # a second editor opens the page now and leaves it open
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(edit_url)
    ids = story_ids(site.archive)
    plan = site.archive.load_plan(ISSUE)
    first, second = plan.stories[0].item, plan.stories[1].item

    # 1. Reorder with the keyboard: focus "Move down" of the top story, press Enter.
    page.get_by_role("button", name=f"Move down: {first.title}").focus()
    page.keyboard.press("Enter")
    _saved(page, 2)
    assert story_ids(site.archive)[:2] == [second.id, first.id]
    assert page.locator("#stories > li").first.get_attribute("data-id") == second.id
    # Focus stays on the moved story's control, so pressing again keeps moving it.
    assert page.evaluate("document.activeElement.dataset.key") == f"down:{first.id}"
    _shot(page, "01-reordered")

    # 2. Swap a guide.
    page.locator("#guide-gemini-release-deepmind").select_option("reasoning-models")
    page.get_by_role("button", name=f"Pair guide with {first.title}").click()
    _saved(page, 3)
    swapped = next(s for s in site.archive.load_plan(ISSUE).stories if s.item.id == first.id)
    assert swapped.guide is not None and swapped.guide.slug == "reasoning-models"
    page.frame_locator("#email-frame").get_by_text("Reasoning Models", exact=False).first.wait_for()

    # 3. Add a story from the bench.
    bench_first = page.locator("#bench > li").first
    added = bench_first.get_attribute("data-id")
    bench_first.get_by_role("button").click()
    _saved(page, 4)
    assert story_ids(site.archive) == [second.id, first.id, *ids[2:], added]
    assert page.locator("#stories > li").count() == len(ids) + 1

    # 4. Edit the subject: the counter follows the typing.
    subject = page.get_by_role("textbox", name="Subject", exact=True)
    subject.fill("Gemini 3.5 leads a week of agents and chips")
    assert page.locator("#subject-count").inner_text() == "43 / 70 characters"
    page.get_by_role("button", name="Save text").click()
    _saved(page, 5)
    assert site.archive.load_plan(ISSUE).subject == "Gemini 3.5 leads a week of agents and chips"
    assert page.locator("#page-title").inner_text() == "Gemini 3.5 leads a week of agents and chips"
    _shot(page, "02-edited")

    # 5. Send a test copy: the outbox receives it, marked [TEST].
    page.get_by_role("button", name="Send test").click()
    page.locator("#edit-status").filter(has_text="Test copy sent to 1").wait_for()
    tests = sorted((Path(site.cfg.delivery.outbox.dir) / ISSUE / "test").glob("*.eml"))
    assert len(tests) == 1
    msg = message_from_bytes(tests[0].read_bytes())
    assert msg["Subject"] == "[TEST] Gemini 3.5 leads a week of agents and chips"

    # 6. Approve what is on the screen.
    page.get_by_role("button", name="Approve for sending").click()
    page.wait_for_url("**approved=1**")
    assert page.locator("#status").inner_text() == "approved"
    assert site.archive.load_plan(ISSUE).status == "approved"
    _shot(page, "03-approved")

    # 7. The stale page tries to save: it is told of the conflict and nothing is lost.
    stale.get_by_role("textbox", name="Subject", exact=True).fill("A subject from a stale page")
    stale.get_by_role("button", name="Save text").click()
    notice = stale.locator("#edit-status").filter(has_text="Conflict")
    notice.wait_for()
    assert "someone else changed this issue" in notice.inner_text()
    assert "version 5 by local" in notice.inner_text()
    plan_after = site.archive.load_plan(ISSUE)
    assert plan_after.subject == "Gemini 3.5 leads a week of agents and chips"
    assert plan_after.status == "approved"
    _shot(stale, "04-conflict")
    actions = [h["action"] for h in site.archive.read_history(ISSUE)]
    assert actions == ["edit", "edit", "edit", "edit", "test", "approve"]
    assert errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_edit_page_has_no_accessibility_violations(site: Site, browser: Any, scheme: str) -> None:
    # bypass_csp: the page allows only its own script, and axe-core is injected inline.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme=scheme, bypass_csp=True
    )
    page = context.new_page()
    page.goto(f"{site.url}/issues/{ISSUE}/edit")
    page.locator("#stories > li").first.wait_for()
    assert axe_violations(page) == []
    _shot(page, f"05-axe-{scheme}")
    context.close()


def test_drag_merge_split_and_remove_in_the_page(site: Site, browser: Any) -> None:
    # Tall enough that dragging needs no scrolling (a scroll mid-drag moves the drop point).
    page = browser.new_context(viewport={"width": 1280, "height": 2400}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site.url}/issues/{ISSUE}/edit")
    ids = story_ids(site.archive)

    # Drag the third story onto the first: it becomes the top story.
    items = page.locator("#stories > li")
    items.nth(2).drag_to(items.nth(0))
    _saved(page, 2)
    assert story_ids(site.archive) == [ids[2], ids[0], ids[1], *ids[3:]], (
        ids,
        story_ids(site.archive),
    )

    # Split an item out of a story's coverage, then merge it back.
    page.get_by_role("button", name="Split out nvidia-q3-ft as its own story").click()
    _saved(page, 3)
    now = story_ids(site.archive)
    assert now[now.index("nvidia-q3-newsroom") + 1] == "nvidia-q3-ft"
    ft = site.archive.load_plan(ISSUE).stories[now.index("nvidia-q3-ft")].item
    page.get_by_role("button", name=f"Merge into story above: {ft.title}").click()
    _saved(page, 4)
    assert "nvidia-q3-ft" not in story_ids(site.archive)

    # Remove a story: it goes back to the bench.
    last = site.archive.load_plan(ISSUE).stories[-1].item
    page.get_by_role("button", name=f"Remove: {last.title}").click()
    _saved(page, 5)
    assert last.id not in story_ids(site.archive)
    assert page.locator(f'#bench > li[data-id="{last.id}"]').count() == 1
    overrides = site.archive.load_overrides(ISSUE)
    assert ("nvidia-q3-newsroom", "nvidia-q3-ft") in overrides.merge
    assert overrides.exclude == (last.id,)
    assert errors == []
