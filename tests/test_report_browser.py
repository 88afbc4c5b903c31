"""The report page, the subscribers overview and the home page in headless Chromium + axe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from browser_support import axe_violations, launch, needs_chromium, serve
from conftest import ROOT
from fastapi.testclient import TestClient
from report_support import ISSUE, SLOT, add_ledger, ev, history, plan, setup_project
from web_support import KeyPair, events_json, secrets, sqlite_engine

from newsletter.archive import Archive
from newsletter.web import create_app

pytestmark = needs_chromium
ARTIFACTS = ROOT / "tests" / "artifacts" / "report"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, sa.Engine]]:
    keys = KeyPair.generate()
    engine = sqlite_engine(tmp_path)
    cfg, ids = setup_project(tmp_path, keys, engine)
    archive = Archive(cfg.archive_dir)
    # Two earlier Sunday issues to compare with.
    for weeks in (1, 2):
        slot = SLOT - timedelta(weeks=weeks)
        earlier = f"{slot.date().isoformat()}-sunday"
        archive.save_plan(plan(earlier, slot))
        add_ledger(engine, earlier, ids, slot=slot)
    app = create_app(cfg, secrets(), engine=engine)
    client = TestClient(app)
    events = history()
    for weeks in (1, 2):
        slot = SLOT - timedelta(weeks=weeks)
        earlier = f"{slot.date().isoformat()}-sunday"
        t = int(slot.timestamp()) + 60
        batch = [ev(i, "delivered", t) | {"issue_id": earlier} for i in range(10)]
        batch += [
            ev(i, "click", t + 900 + i, url=f"https://news.example/openai-agents?x={weeks}")
            | {"issue_id": earlier}
            for i in range(weeks * 2)
        ]
        events += batch
    body = events_json(*events)
    assert client.post("/webhooks/sendgrid", content=body, headers=keys.headers(body)).is_success
    for url in serve(app):
        yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_report_page(site: tuple[str, sa.Engine], browser: Any, scheme: str) -> None:
    url, _ = site
    page = browser.new_page(
        viewport={"width": 1280, "height": 900}, color_scheme=scheme, bypass_csp=True
    )
    page.goto(f"{url}/issues/{ISSUE}/report")
    assert page.title().startswith(f"Report {ISSUE}")
    for chart in ("timeline", "stories", "guides", "compare", "rates"):
        svg = page.locator(f"svg[aria-labelledby='{chart}-t {chart}-d']")
        assert svg.count() == 1
        assert svg.locator("title").text_content()
    # The figures an editor reads first, and the per-link table.
    text = page.locator("main").inner_text()
    assert "unique human opens" in text and "machine opens" in text
    assert "clicks by 3 suspected bots" in text
    assert "Complaint rate 12.500 % is over 0.3 %" in text
    rows = page.locator("table:has(caption:text('Clicks per link')) tbody tr")
    assert rows.count() == 4
    stories = page.locator("svg[aria-labelledby='stories-t stories-d'] desc").text_content()
    assert stories is not None and "OpenAI ships agents: 2 unique clickers" in stories
    page.get_by_text("Comparison as a table").click()
    compare = page.locator("table:has(caption:text('Issues of this edition')) tbody tr")
    assert compare.count() == 3
    assert axe_violations(page) == []
    _shot(page, f"report-{scheme}")
    page.close()


def test_home_and_subscribers_overview(site: tuple[str, sa.Engine], browser: Any) -> None:
    url, _ = site
    page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page.goto(url + "/")
    glance = page.locator("table:has(caption:text('Delivered, clickers and complaints')) tbody tr")
    assert glance.count() == 3
    first = glance.filter(has_text=ISSUE).locator("td")
    assert [first.nth(i).inner_text() for i in range(4)] == [ISSUE, "8", "7", "1"]
    assert axe_violations(page) == []
    page.get_by_role("link", name="Overview and search").click()
    page.wait_for_url("**/subscribers")
    text = page.locator("main").inner_text()
    assert "10\nin all" in text
    page.get_by_label("Address or name").fill("s3@")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**q=s3%40**")
    assert page.locator("main").inner_text().count("s3@example.com") == 1
    assert axe_violations(page) == []
    _shot(page, "subscribers")
    page.get_by_role("link", name="s3@example.com").click()
    page.wait_for_url("**/subscribers/*")
    person = page.locator("main").inner_text()
    assert "unsubscribed" in person and ISSUE in person and "click" in person
    assert axe_violations(page) == []
    _shot(page, "subscriber")
    page.close()
