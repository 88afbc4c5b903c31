"""The rendered Sunday and Midweek issues: content, tokens, text part, links, web page, index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.models import IssuePlan
from newsletter.personalization import FIRST_NAME, PREFERENCES_URL, TOKENS, UNSUBSCRIBE_URL
from newsletter.rendering import RenderedIssue, render_issue, render_plan
from newsletter.rendering.checks import html_links
from newsletter.rendering.context import date_label, score_label
from newsletter.rendering.text import text_urls, wrap_text
from tests.render_support import project


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Archive]:
    return project(tmp_path_factory.mktemp("render-templates"))


@pytest.fixture(scope="module")
def plans(setup: tuple[Settings, Archive]) -> dict[str, IssuePlan]:
    return {p.edition: p for p in setup[1].plans()}


@pytest.fixture(scope="module")
def rendered(
    setup: tuple[Settings, Archive], plans: dict[str, IssuePlan]
) -> dict[str, RenderedIssue]:
    return {edition: render_plan(setup[0], plan) for edition, plan in plans.items()}


def visible_text(html: str) -> str:
    return " ".join(lxml_html.document_fromstring(html).text_content().split())


def test_sample_plans_are_realistic(plans: dict[str, IssuePlan]) -> None:
    sunday, midweek = plans["sunday"], plans["midweek"]
    assert len(sunday.stories) == 10 and len(midweek.stories) == 6
    assert any(s.also for s in sunday.stories)
    assert any(s.guide for s in sunday.stories)
    assert len(sunday.guides) == sum(1 for s in sunday.stories if s.guide) >= 3
    assert {g.slug for g in midweek.guides} == {s.guide.slug for s in midweek.stories if s.guide}


def test_every_check_passes_on_the_sample_issues(rendered: dict[str, RenderedIssue]) -> None:
    for edition, issue in rendered.items():
        # The sample corpus has summaries longer than the cap: that is the one expected warning.
        bad = [c for c in issue.checks if c.status != "pass" and c.name != "shortened"]
        assert bad == [], f"{edition}: {bad}"
        assert issue.size < 90 * 1024


def test_sunday_shows_contents_stories_context_and_footer(
    setup: tuple[Settings, Archive], plans: dict[str, IssuePlan], rendered: dict[str, RenderedIssue]
) -> None:
    cfg = setup[0]
    plan, issue = plans["sunday"], rendered["sunday"]
    text = visible_text(issue.html)
    assert cfg.site.name in text
    assert "Sunday edition" in text and "Sunday 22 November 2026" in text and "Issue 47" in text
    assert "In this issue" in text and "Top story" in text and "The week's stories" in text
    assert "Guides of the week" not in text
    zone = cfg.editions["sunday"].zone
    for story in plan.stories:
        assert text.count(story.item.title) >= 2  # the contents list and the story
        assert f"{story.item.source} · {date_label(story.item.published_at, zone)}" in text
    assert " ago" not in text  # no relative age frozen at the send time
    with_also = next(s for s in plan.stories if s.also)
    assert "Also covered by " + ", ".join(a.source for a in with_also.also) in text
    with_guide = next(s for s in plan.stories if s.guide)
    assert with_guide.guide is not None
    card = next(g for g in plan.guides if g.slug == with_guide.guide.slug)
    # No curated context yet: the guide's TL;DR opens the Context line.
    assert f"Context: {' '.join(card.tldr.split()[:6])}" in text
    assert f"{with_guide.guide.level} guide: {with_guide.guide.title}" in text
    assert f"Hi {FIRST_NAME}," in text
    assert cfg.site.postal_address in text
    links = html_links(lxml_html.document_fromstring(issue.html))
    assert UNSUBSCRIBE_URL in links and PREFERENCES_URL in links
    assert f"{cfg.web.public_url}/issues/{plan.id}" in links


def test_no_guide_is_linked_more_than_twice(rendered: dict[str, RenderedIssue]) -> None:
    for issue in rendered.values():
        doc = lxml_html.document_fromstring(issue.html)
        guides = [
            a.get("href", "").split("?")[0]
            for a in doc.iter("a")
            if "/guides/" in a.get("href", "")
        ]
        assert guides, "no guide linked at all"
        assert max(guides.count(g) for g in guides) <= 2


def test_dates_and_scores_are_labelled() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    friday = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert date_label(friday, ZoneInfo("Europe/London")) == "Fri 20 Nov"
    assert date_label(friday, ZoneInfo("Asia/Tokyo")) == "Sat 21 Nov"
    assert score_label(8.0) == "8" and score_label(7.5) == "7.5"


def test_top_scores_carry_an_editors_pick_label(
    plans: dict[str, IssuePlan], rendered: dict[str, RenderedIssue]
) -> None:
    issue = rendered["sunday"]
    doc = lxml_html.document_fromstring(issue.html)
    picks = doc.cssselect(".pick")
    assert len(picks) == sum(1 for s in plans["sunday"].stories if s.item.score >= 9) > 0
    assert all(p.text_content() == "Editor's\xa0pick" for p in picks)
    assert issue.text.count("Editor's pick") == len(picks)


def test_midweek_is_compact_without_guide_cards(
    plans: dict[str, IssuePlan], rendered: dict[str, RenderedIssue]
) -> None:
    text = visible_text(rendered["midweek"].html)
    assert "Midweek edition" in text and "Top story" in text
    assert "Guides of the week" not in text and "In this issue" not in text
    assert "Issue" not in text.split("Hi ")[0]  # number is None: no issue number
    for story in plans["midweek"].stories:
        assert story.item.title in text
    assert rendered["midweek"].size < rendered["sunday"].size


def test_tokens_survive_mjml_and_inlining_intact(rendered: dict[str, RenderedIssue]) -> None:
    for issue in rendered.values():
        for token in TOKENS:
            assert token in issue.html and token in issue.text
        assert f'href="{UNSUBSCRIBE_URL}"' in issue.html
        assert f'href="{PREFERENCES_URL}"' in issue.html
        # No mangled variants (percent-encoded or entity-escaped).
        assert "%25unsubscribe" not in issue.html and "&#37;" not in issue.html


def test_web_version_carries_no_personal_token(rendered: dict[str, RenderedIssue]) -> None:
    for issue in rendered.values():
        for token in TOKENS:
            assert token not in issue.web_html
        assert "Hi there," in visible_text(issue.web_html)
        assert "Unsubscribe" not in issue.web_html


def test_html_is_inlined_and_keeps_dark_mode(rendered: dict[str, RenderedIssue]) -> None:
    html = rendered["sunday"].html
    doc = lxml_html.document_fromstring(html)
    title_link = doc.cssselect("h3.title a")[0]
    assert "text-decoration:none" in title_link.get("style", "").replace(" ", "")
    assert "prefers-color-scheme: dark" in html or "prefers-color-scheme:dark" in html
    assert "fonts.googleapis" not in html
    assert "data-premailer" not in html
    # Reset rules are not copied onto every cell.
    assert "mso-table-lspace" not in "".join(td.get("style", "") for td in doc.iter("td"))


def test_text_part_wraps_near_76_and_never_breaks_urls(rendered: dict[str, RenderedIssue]) -> None:
    for issue in rendered.values():
        for line in issue.text.splitlines():
            if len(line) > 76:
                assert re.search(r"(https?://|%\w+_url%)\S+$", line), line
                assert len(line.split()) <= 2 or line.split()[-1].startswith("http"), line


def test_wrap_text_keeps_long_urls_whole() -> None:
    url = "https://example.com/" + "a" * 100
    out = wrap_text(f"Read this: {url} and then some more words to wrap around the line width")
    assert url in out.split()
    assert all(len(line) <= 76 or url in line for line in out.splitlines())
    bullet = wrap_text("  - " + "word " * 30)
    assert all(line.startswith("    ") for line in bullet.splitlines()[1:])


def test_text_part_has_exactly_the_html_links(rendered: dict[str, RenderedIssue]) -> None:
    for issue in rendered.values():
        hrefs = html_links(lxml_html.document_fromstring(issue.html))
        assert hrefs == text_urls(issue.text)
        assert len(hrefs) > 10


def test_text_part_content(plans: dict[str, IssuePlan], rendered: dict[str, RenderedIssue]) -> None:
    text = rendered["sunday"].text
    joined = " ".join(text.split())
    assert f"Hi {FIRST_NAME}," in text
    assert "IN THIS ISSUE" in text and "TOP STORY" in text and "GUIDES OF THE WEEK" not in text
    for story in plans["sunday"].stories:
        assert " ".join(story.item.title.split()) in joined
    assert "Also covered by:" in text and "Context: " in text and " guide: " in text


def test_render_issue_writes_files_and_index(setup: tuple[Settings, Archive]) -> None:
    cfg, archive = setup
    plans = list(archive.plans())
    for plan in plans:
        result = render_issue(cfg, plan.id)
        assert result.ok
        for path in (result.email_html, result.email_text, result.web_html, result.checks_json):
            assert path.is_file() and path.parent == archive.issue_dir(plan.id)
        assert result.size == len(result.email_html.read_bytes())
    index = (cfg.archive_dir / "index.html").read_text(encoding="utf-8")
    doc = lxml_html.document_fromstring(index)
    hrefs = {a.get("href") for a in doc.iter("a")}
    assert hrefs == {f"{p.id}/web.html" for p in plans}
    for plan in plans:
        assert plan.subject in doc.text_content()
        assert (cfg.archive_dir / f"{plan.id}/web.html").is_file()
    assert "draft" in doc.text_content()


def test_index_is_regenerated_with_new_status(tmp_path: Path) -> None:
    cfg, archive = project(tmp_path)
    plan = next(archive.plans())
    render_issue(cfg, plan.id)
    archive.set_status(plan.id, "approved")
    render_issue(cfg, plan.id)
    index = (cfg.archive_dir / "index.html").read_text(encoding="utf-8")
    assert "approved" in index


def test_ampersands_and_quotes_escaped_once_in_html_and_plain_in_text(
    setup: tuple[Settings, Archive], plans: dict[str, IssuePlan]
) -> None:
    plan = plans["midweek"]
    story = plan.stories[0]
    item = story.item.model_copy(update={"title": 'R&D "labs" & <chips>', "summary": "A & B's"})
    odd = plan.model_copy(
        update={
            "subject": 'AI & "chips" <weekly>',
            "preheader": "Chips & models: the week's news, in about five minutes.",
            "stories": [story.model_copy(update={"item": item}), *plan.stories[1:]],
        }
    )
    rendered = render_plan(setup[0], odd)
    assert "&amp;amp;" not in rendered.html and "&amp;quot;" not in rendered.html
    doc = lxml_html.document_fromstring(rendered.html)
    assert doc.findtext(".//title") == 'AI & "chips" <weekly>'
    assert 'R&D "labs" & <chips>' in doc.text_content()
    assert "Chips & models" in doc.text_content()
    assert 'R&D "labs" & <chips>' in rendered.text and "A & B's" in rendered.text
    assert "&amp;" not in rendered.text and "&#" not in rendered.text
    assert all(
        c.status == "pass" for c in rendered.checks if c.name not in ("subject-length", "shortened")
    )


def test_autoescape_on_for_markup_off_for_text() -> None:
    from newsletter.rendering.environment import _autoescape, template_env

    for name in ("email/base.mjml.j2", "email/sunday.mjml.j2", "archive/index.html.j2", None):
        assert _autoescape(name) is True
    assert _autoescape("email/text.txt.j2") is False
    index = template_env().get_template("archive/index.html.j2")
    assert "&lt;b&gt;" in index.render(site_name="<b>", issues=[])


def test_outlook_and_font_stack(rendered: dict[str, RenderedIssue]) -> None:
    html = rendered["sunday"].html
    assert "<!--[if mso]>" in html and "font-family: Arial" in html
    assert "-apple-system" in html and "googleapis" not in html
    assert 'role="article"' in html
