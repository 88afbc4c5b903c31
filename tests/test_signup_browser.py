"""A reader in headless Chromium: fill the form, open the emailed link, Confirm, preferences.

Every page on the way passes axe-core (WCAG A/AA) in light and dark mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import axe_violations, launch, needs_chromium, serve
from signup_support import SignupSite, make_site
from web_support import sqlite_engine

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SignupSite, str]]:
    site = make_site(tmp_path, sqlite_engine(tmp_path), min_submit_time="1s")
    for url in serve(site.client.app):
        yield site, url


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_sign_up_confirm_and_land_on_preferences(
    browser: Any, served: tuple[SignupSite, str], scheme: str
) -> None:
    site, url = served
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(f"{url}/subscribe")
        assert axe_violations(page) == []
        page.get_by_label("Email address").fill("reader@example.com")
        page.get_by_label("Name (optional)").fill("Reader")
        midweek = page.get_by_role("checkbox", name="Midweek")
        assert midweek.is_checked() and page.get_by_role("checkbox", name="Sunday").is_checked()
        midweek.uncheck()
        page.wait_for_timeout(1200)  # a person takes longer than signup.min_submit_time
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", name="Check your inbox").is_visible()
        assert axe_violations(page) == []

        token = site.token("reader@example.com")
        page.goto(f"{url}/confirm?t={token}")
        assert site.row("reader@example.com")["status"] == "pending"  # type: ignore[index]
        assert axe_violations(page) == []
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", name="Email preferences").is_visible()
        assert page.get_by_role("checkbox", name="Sunday").is_checked()
        assert not page.get_by_role("checkbox", name="Midweek").is_checked()
        assert axe_violations(page) == []
        row = site.row("reader@example.com")
        assert row is not None and row["status"] == "active" and row["wants_sunday"]
        assert not row["wants_midweek"]
        assert [m["email"] for m in site.mails("welcome")] == ["reader@example.com"]

        # The preferences form on that page works: take Midweek too.
        page.get_by_role("checkbox", name="Midweek").check()
        page.get_by_role("button", name="Save preferences").click()
        page.wait_for_load_state()
        assert site.row("reader@example.com")["wants_midweek"]  # type: ignore[index]
    finally:
        context.close()


def test_keyboard_only_signup_and_error_page(browser: Any, served: tuple[SignupSite, str]) -> None:
    site, url = served
    page = browser.new_page(bypass_csp=True)
    try:
        page.goto(f"{url}/subscribe")
        page.keyboard.press("Tab")  # skip link
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "email"
        page.keyboard.type("broken@")
        # The honeypot is never reached by Tab.
        for _ in range(8):
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") != "website"
        page.evaluate("document.querySelector('form').noValidate = true")
        page.wait_for_timeout(1100)
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("alert").is_visible()
        assert page.get_by_label("Email address").get_attribute("aria-invalid") == "true"
        assert axe_violations(page) == []
        assert site.sent_total() == 0
    finally:
        page.close()
