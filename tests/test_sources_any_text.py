"""Property: any text (lone surrogates, controls, RTL marks, emoji, markup) in any field of any
format either loads as clean text or is reported on one line, and the issue then assembles
and renders (issue 9)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.config import load_config
from newsletter.curation import assemble_issue
from newsletter.rendering import render_issue
from newsletter.sources import load_content
from tests.conftest import CONTENT, write_config

AT = datetime.fromisoformat("2026-11-22T05:00:00+00:00")
UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_SPECIAL = [
    "\ud800", "\udfff", "\x00", "\x07", "\x1b", "\x0b", "\x7f", "\x85", "\x9b", "\ufffe",
    "\u202e", "\u200f", "\u2028", "\U0001f600", "\t", "\n", "&nbsp;", "&amp;", "<b>", "<",
    "]]>", "--", "\\", '"', "'", "{{", "}}", "{%", "\u05e9\u05dc\u05d5\u05dd", "\xa0",
]  # fmt: skip
hostile_text = st.lists(
    st.one_of(st.characters(), st.sampled_from(_SPECIAL)), min_size=1, max_size=16
).map("".join)
FORMATS = {
    "jsonl": ("title", "summary", "source", "topic", "url", "id"),
    "jsonfeed": ("title", "summary", "content_html", "id", "url", "feed_title", "tag"),
    "rss": ("title", "description", "guid", "category", "feed_title", "link"),
    "atom": ("title", "summary", "content", "id", "feed_title"),
    "guide": ("title", "tldr", "topic", "takeaway", "body"),
}


def _xml(value: str) -> str:
    return escape(value)


def write_inputs(folder: Path, fmt: str, field: str, text: str) -> None:
    """One item per format; ``field`` of format ``fmt`` holds ``text``."""

    def own(name: str, default: str, which: str) -> str:
        return text if fmt == which and field == name else default

    line = {
        "id": own("id", "h-jsonl", "jsonl"),
        "title": own("title", "JSONL item", "jsonl"),
        "url": own("url", "https://x.example/jsonl", "jsonl"),
        "source": own("source", "Lines", "jsonl"),
        "published_at": "2026-11-21T09:00:00+00:00",
        "score": 9.5,
        "summary": own("summary", "Lines summary.", "jsonl"),
        "topics": [own("topic", "AI", "jsonl")],
    }
    (folder / "news.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": own("feed_title", "JSON Feed", "jsonfeed"),
        "items": [
            {
                "id": own("id", "https://x.example/jf", "jsonfeed"),
                "url": own("url", "https://x.example/jf", "jsonfeed"),
                "title": own("title", "JSON Feed item", "jsonfeed"),
                "summary": own("summary", "Feed summary.", "jsonfeed"),
                "content_html": own("content_html", "<p>Body</p>", "jsonfeed"),
                "date_published": "2026-11-21T10:00:00Z",
                "tags": [own("tag", "AI", "jsonfeed")],
                "_almanac": {"score": 9.4},
            }
        ],
    }
    (folder / "feed.json").write_text(json.dumps(feed), encoding="utf-8")

    def x(name: str, default: str, which: str) -> str:
        return _xml(own(name, default, which))

    rss = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:almanac="https://almanac.example/ns/1.0"><channel>
<title>{x("feed_title", "RSS Wire", "rss")}</title>
<item><title>{x("title", "RSS item", "rss")}</title>
<link>{x("link", "https://x.example/rss", "rss")}</link>
<guid>{x("guid", "https://x.example/rss", "rss")}</guid>
<description>{x("description", "RSS text", "rss")}</description>
<category>{x("category", "AI", "rss")}</category><almanac:score>9.3</almanac:score>
<pubDate>Sat, 21 Nov 2026 11:00:00 +0000</pubDate></item></channel></rss>"""
    atom = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:almanac="https://almanac.example/ns/1.0">
<title>{x("feed_title", "Atom Notes", "atom")}</title>
<entry><id>{x("id", "tag:x.example,2026:atom", "atom")}</id>
<title type="html">{x("title", "Atom item", "atom")}</title>
<link href="https://x.example/atom"/><updated>2026-11-21T12:00:00Z</updated>
<summary type="html">{x("summary", "Atom summary", "atom")}</summary>
<content type="html">{x("content", "Atom content", "atom")}</content>
<almanac:score>9.2</almanac:score></entry></feed>"""
    # surrogatepass: a lone surrogate reaches the bytes as the invalid UTF-8 a broken producer
    # would write; the loader must replace it and say so.
    (folder / "wire.rss").write_bytes(rss.encode("utf-8", "surrogatepass"))
    (folder / "notes.atom").write_bytes(atom.encode("utf-8", "surrogatepass"))
    guides = folder / "guides"
    shutil.copytree(CONTENT / "guides", guides)

    def y(name: str, default: str) -> str:
        # JSON string escapes are YAML double-quoted escapes.
        return json.dumps(own(name, default, "guide"))

    guide = f"""---
slug: any-text
title: {y("title", "Any text guide")}
level: Beginner
url: https://almanac.example/guides/any-text
updated_at: 2026-11-01
topics: [{y("topic", "AI")}]
tldr: {y("tldr", "Short.")}
takeaways: [{y("takeaway", "One.")}]
---
"""
    body = own("body", "Body.", "guide")
    (guides / "any-text.md").write_bytes((guide + body + "\n").encode("utf-8", "surrogatepass"))


def _texts(item: Any) -> list[str]:
    return [item.title, item.summary, item.source, item.url, item.id, *item.topics]


_cases = st.sampled_from([(fmt, f) for fmt, fields in FORMATS.items() for f in fields])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_cases, hostile_text)
def test_any_text_loads_clean_or_is_reported_then_assembles_and_renders(
    case: tuple[str, str], text: str
) -> None:
    fmt, field = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "content"
        folder.mkdir()
        write_inputs(folder, fmt, field, text)
        cfg = load_config(write_config(root), env={})

        loaded = load_content(cfg, folder)
        for problem in loaded.problems:
            assert "\n" not in str(problem) and not UNCLEAN.search(str(problem)), problem
        for item in loaded.catalog.news:
            assert not any(UNCLEAN.search(t) for t in _texts(item)), item
            assert all(t == t.strip() and "  " not in t for t in (item.title, item.source))
            item.model_dump_json()
        for guide in loaded.catalog.guides:
            assert not UNCLEAN.search(guide.model_dump_json()), guide.slug
        # Nothing vanishes: each news file gave its one item, or said why not.
        for name in ("news.jsonl", "feed.json", "wire.rss", "notes.atom"):
            items = [s for s in loaded.sources if s.origin.endswith(name)]
            assert items and (items[0].items == 1 or items[0].problems >= 1), (name, items)
        if fmt == "guide":
            names = {g.slug for g in loaded.catalog.guides}
            assert "any-text" in names or any(
                p.path.endswith("any-text.md") for p in loaded.problems
            )

        pins = [item.id for item in loaded.catalog.news]
        result = assemble_issue(cfg, "sunday", AT, content_dir=folder, pins=pins)
        shown = {s.item.id for s in result.plan.stories}
        shown |= {a.id for s in result.plan.stories for a in s.also}  # merged as one story
        assert shown >= set(pins)
        rendered = render_issue(cfg, result.plan.id)
        html = rendered.email_html.read_text(encoding="utf-8")
        assert not UNCLEAN.search(html)
        assert not UNCLEAN.search(rendered.email_text.read_text(encoding="utf-8"))
