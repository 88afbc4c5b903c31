"""Hostile content stays text: no markup, no script, no javascript: link, in HTML and text."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import html as lxml_html

from newsletter.config import Settings, load_config
from newsletter.models import AlsoRef, GuideCard, GuideRef, IssuePlan, Story
from newsletter.rendering import render_plan
from newsletter.rendering.checks import html_links
from newsletter.rendering.links import safe_url
from newsletter.rendering.text import text_urls
from tests.conftest import write_config
from tests.render_support import make_plans

PAYLOAD = (
    "<script>alert(1)</script><img src=x onerror=\"alert(2)\">\"' onmouseover='alert(3)' "
    '<a href="javascript:alert(4)">x</a> </mj-text></mj-column><mj-raw><b>raw</b></mj-raw> '
    "--><!-- & %first_name%"
)
EVIL_URL = "javascript:alert(5)"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_config(write_config(tmp_path_factory.mktemp("hostile")), env={})


def hostile_plan(cfg: Settings) -> IssuePlan:
    sunday, _ = make_plans(cfg)
    first = sunday.stories[0]
    item = first.item.model_copy(update={"title": PAYLOAD, "summary": PAYLOAD, "source": PAYLOAD})
    guide = GuideRef.model_construct(
        slug="evil", title=PAYLOAD, url=EVIL_URL, reason="x", level="Beginner"
    )
    also = (
        AlsoRef.model_construct(source=PAYLOAD, url=EVIL_URL, id="evil"),
        AlsoRef(source=PAYLOAD, url='https://ok.example/a?b=1&c="2"', id="ok"),
    )
    evil_item = first.item.model_copy(update={"url": "javascript:alert(6)", "title": "Evil link"})
    stories = [
        Story.model_construct(item=item, also=also, guide=guide),
        Story.model_construct(item=evil_item, also=(), guide=None),
        *sunday.stories[1:],
    ]
    card = GuideCard.model_construct(
        slug="evil", title=PAYLOAD, url=EVIL_URL, level="Beginner", tldr=PAYLOAD
    )
    return sunday.model_copy(
        update={"stories": stories, "guides": [card, *sunday.guides], "subject": PAYLOAD[:60]}
    )


def test_payloads_are_text_not_markup(cfg: Settings) -> None:
    rendered = render_plan(cfg, hostile_plan(cfg))
    for html in (rendered.html, rendered.web_html):
        doc = lxml_html.document_fromstring(html)
        assert not list(doc.iter("script")) and not list(doc.iter("img"))
        assert "<mj-" not in html and "<b>raw</b>" not in html
        for el in doc.iter():
            if isinstance(el.tag, str):
                for name, value in el.attrib.items():
                    assert not name.lower().startswith("on"), (el.tag, name)
                    assert "javascript:" not in value.lower(), (el.tag, name, value)
        # The payload is shown, as text, where the title and summary go.
        assert "<script>alert(1)</script>" in doc.text_content()
        assert "Evil link" in doc.text_content()
        for href in html_links(doc):
            assert href.startswith("https://") or href.startswith("%"), href
    by_name = {c.name: c.status for c in rendered.checks}
    assert by_name["no-script"] == "pass" and by_name["links"] == "pass"
    assert by_name["text-links"] == "pass"


def test_quotes_in_urls_never_break_out_of_attributes(cfg: Settings) -> None:
    rendered = render_plan(cfg, hostile_plan(cfg))
    doc = lxml_html.document_fromstring(rendered.html)
    hrefs = html_links(doc)
    assert not any("ok.example" in h for h in hrefs)  # a quote in a URL: dropped, not escaped in
    assert safe_url('https://ok.example/a?b="2"') is None


def test_text_part_has_no_javascript_links(cfg: Settings) -> None:
    rendered = render_plan(cfg, hostile_plan(cfg))
    assert "javascript:alert(4)" in rendered.text  # shown as the title's text...
    assert "alert(5)" not in rendered.text and "alert(6)" not in rendered.text  # ...links dropped
    assert all(u.startswith(("https://", "%")) for u in text_urls(rendered.text))


def test_only_http_urls_are_safe() -> None:
    assert safe_url("https://example.com/x?y=1#z") == "https://example.com/x?y=1#z"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,x",
        "/relative",
        "https://",
        "vbscript:x",
        " java\tscript:alert(1)",
        "https://e.com/<script>",
        None,
        3,
    ):
        assert safe_url(bad) is None


def test_written_files_are_inert(tmp_path: Path) -> None:
    from newsletter.archive import Archive
    from newsletter.rendering import render_issue

    cfg = load_config(write_config(tmp_path), env={})
    sunday, _ = make_plans(cfg)
    story = sunday.stories[0]
    item = story.item.model_copy(update={"title": PAYLOAD, "summary": PAYLOAD})
    plan = sunday.model_copy(
        update={"subject": PAYLOAD[:60], "stories": [story.model_copy(update={"item": item})]}
    )
    Archive(cfg.archive_dir).save_plan(plan)
    result = render_issue(cfg, plan.id)
    for path in (result.email_html, result.web_html, result.index_html):
        doc = lxml_html.document_fromstring(path.read_text(encoding="utf-8"))
        assert not list(doc.iter("script")) and not list(doc.iter("img"))
        assert "<script>alert(1)</script>" in doc.text_content()
