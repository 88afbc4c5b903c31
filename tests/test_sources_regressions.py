"""One regression test per defect of issue 9, through the CLI where the defect showed there.

"Bad input never stops a run": hostile content (lone surrogates, control characters, odd
dates, untitled items, entity bombs, broken bytes) loads as clean text or is reported on one
line, and the issue then assembles and renders.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from newsletter.cli.main import app, main
from newsletter.config import ContentConfig
from newsletter.sources import load_jsonl, parse_json_feed, parse_xml_feed
from newsletter.sources.dates import DateError, parse_feed_date
from newsletter.sources.guides import parse_guide
from newsletter.sources.text import html_to_text
from tests.cli_support import run_cli
from tests.conftest import CONTENT, write_config

SUNDAY_AT = "2026-11-22T05:00:00+00:00"
ISSUE = "2026-11-22-sunday"
CFG = ContentConfig()
# What must never reach a plan or an email: C0/C1 controls, lone surrogates, U+FFFE/U+FFFF.
UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def jsonl_line(**fields: Any) -> str:
    item = {
        "id": "x-1",
        "title": "A title",
        "url": "https://x.example/1",
        "source": "Wire",
        "published_at": "2026-11-21T09:00:00+00:00",
        "score": 9,
        "summary": "Text.",
        "topics": ["AI"],
        **fields,
    }
    return json.dumps(item)


HOSTILE_JSONL = "\n".join(
    [
        jsonl_line(id="surrogate-title", title="Half an emoji \ud83d here", topics=["AI\udc00"]),
        jsonl_line(id="bel-title", title="Ring \u0007 the \u001b[31mbell", summary="NUL\u0000 end"),
        jsonl_line(id="tabs-title", title="Tabs\tand\nnewlines", summary="a&nbsp;b"),
        jsonl_line(id="only-nul", title="\u0000\u0007"),
        jsonl_line(id="cred-url", url="https://user:pw@x.example/2"),
        jsonl_line(id="bel-url", url="https://x.example/\u0007"),
        '{"id": "huge", "score": ' + "9" * 5000 + "}",
    ]
)

HOSTILE_JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Feed \ud800 title",
    "home_page_url": "https://feed.example/",
    "items": [
        {
            "id": "https://feed.example/\ud800",
            "url": "https://feed.example/a",
            "title": "Why <div> soup & AT&amp;T",
            "content_html": "<p>Body \ud800 with <script>function executeMe() {}</script>text</p>",
            "date_published": "2026-11-21t10:00:00z",
        },
        {
            "id": "https://feed.example/b",
            "url": "https://feed.example/b",
            "content_text": "An untitled post. It has two sentences.",
            "date_published": "2026-11-21T11:00:00+05:30",
        },
        {"id": "https://feed.example/c", "url": "https://feed.example/c"},
    ],
}

HOSTILE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:almanac="https://almanac.example/ns/1.0"><channel>
<title>Hostile Wire</title><link>https://wire.example/</link>
<item><title>Raw \x07bell in a title</title><link>https://wire.example/1</link>
<description>&lt;p&gt;Entity &amp;#7; bell&lt;/p&gt;&lt;table&gt;&lt;tr&gt;&lt;td&gt;cell&lt;/td&gt;&lt;td&gt;next&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;dl&gt;&lt;dt&gt;term&lt;/dt&gt;&lt;dd&gt;def&lt;/dd&gt;&lt;/dl&gt;word&lt;hr&gt;after&lt;section&gt;sec&lt;/section&gt;</description>
<pubDate>Sat, 21 Nov 2026 09:00:00 -0000</pubDate><almanac:score/></item>
<item><link>https://wire.example/2</link>
<description>A Mastodon-style post without a title. Second sentence.</description>
<pubDate>Sat, 21 Nov 2026 09:00:00 GMT-01:01</pubDate></item>
<item><title>Leap	second
title&amp;nbsp;here</title><link>https://wire.example/3</link>
<pubDate>Sat, 21 Nov 2026 23:59:60 +0000</pubDate></item>
<item><title>Script</title><link>https://wire.example/4</link>
<description>&lt;script&gt;function executeMe() { alert(1) }&lt;/script&gt;Visible</description>
<pubDate>Sat, 21 Nov 2026 09:00:00 +05:30</pubDate></item>
<item><title>Year one</title><link>https://wire.example/5</link>
<pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate></item>
</channel></rss>"""

HOSTILE_GUIDE = """---
slug: hostile-guide
title: "Bell \\a and escape \\e[31m in a title"
level: Beginner
url: https://almanac.example/guides/hostile
updated_at: 2026-11-01
topics: ["AI\\x07"]
tldr: "NUL \\0 inside"
takeaways: ["Tab\\tkept as a space"]
---
Body with a \\x07 literal backslash sequence and a real BEL: \x07 end.
"""


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """A content folder of hostile inputs (plus the sample guides) and a config for it."""
    folder = tmp_path / "content"
    shutil.copytree(CONTENT / "guides", folder / "guides")
    (folder / "guides" / "hostile-guide.md").write_text(HOSTILE_GUIDE, encoding="utf-8")
    (folder / "news.jsonl").write_text(HOSTILE_JSONL + "\n", encoding="utf-8")
    (folder / "feed.json").write_text(json.dumps(HOSTILE_JSON_FEED), encoding="utf-8")
    (folder / "wire.rss").write_bytes(HOSTILE_RSS)
    return folder, write_config(tmp_path)


def check_content(capsys: pytest.CaptureFixture[str], folder: Path, config: Path) -> Any:
    code, out, err = run_cli(capsys, "check-content", "--content", str(folder), "--config", str(config), "--json")  # fmt: skip
    assert code == 0, err
    return json.loads(out)


def test_hostile_content_is_checked_assembled_and_rendered(
    capsys: pytest.CaptureFixture[str], hostile: tuple[Path, Path]
) -> None:
    folder, config = hostile
    report = check_content(capsys, folder, config)
    messages = [p["message"] for p in report["problems"]]
    assert all("\n" not in m and not UNCLEAN.search(m) for m in messages)
    jsonl = folder / "news.jsonl"
    text = "\n".join(messages)
    assert f"{jsonl}:4: title has only control or invalid characters (U+0000, U+0007)" in text
    assert f"{jsonl}:5: url must not contain a user name or password" in text
    assert f"{jsonl}:6: url must not contain control characters" in text
    assert f"{jsonl}:7: invalid JSON (a number has more than 4,300 digits)" in text
    assert f"{folder / 'feed.json'}: entry 3: entry has no title and no text" in text
    assert report["news"] == 3 + 2 + 5

    code, _, err = run_cli(capsys, "assemble", "--edition", "sunday", "--at", SUNDAY_AT, "--content", str(folder), "--config", str(config), "--json")  # fmt: skip
    assert code == 0, err
    plan_path = config.parent / "issues" / ISSUE / "issue.json"
    plan_text = plan_path.read_text(encoding="utf-8")
    assert not UNCLEAN.search(json.loads(plan_text).__repr__())
    assert "\\u0007" not in plan_text and "\\ud8" not in plan_text
    titles = {s["item"]["title"] for s in json.loads(plan_text)["stories"]}
    hostile = {"Half an emoji here", "Ring the [31mbell", "Raw bell in a title", "Script"}
    assert hostile | {"An untitled post.", "Leap second title here"} <= titles

    code, _out, err = run_cli(capsys, "render", ISSUE, "--config", str(config))
    assert code == 0, err
    assert "MJML" not in err
    html = (config.parent / "issues" / ISSUE / "email.html").read_text(encoding="utf-8")
    assert not UNCLEAN.search(html)
    assert "executeMe" not in html


def test_pair_reads_hostile_content(
    capsys: pytest.CaptureFixture[str], hostile: tuple[Path, Path]
) -> None:
    folder, config = hostile
    code, out, err = run_cli(capsys, "pair", "--content", str(folder), "--config", str(config), "--json")  # fmt: skip
    assert code == 0, err
    assert "UnicodeEncodeError" not in err
    assert not UNCLEAN.search(out)


# --- 1. lone surrogates -----------------------------------------------------------------------


def test_lone_surrogates_in_json_feed_are_removed_not_fatal() -> None:
    batch = parse_json_feed(json.dumps(HOSTILE_JSON_FEED).encode(), "f.json", CFG)
    first, _second = batch.items
    assert first.source == "Feed title"
    assert first.summary == "Body with text"
    assert re.fullmatch(r"[a-z0-9-]+", first.id)
    json.dumps([i.model_dump(mode="json") for i in batch.items]).encode("utf-8")


def test_lone_surrogates_in_jsonl_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text(HOSTILE_JSONL, encoding="utf-8")
    batch = load_jsonl(path)
    item = next(i for i in batch.items if i.id == "surrogate-title")
    assert (item.title, item.topics) == ("Half an emoji here", ("AI",))
    item.model_dump_json()  # was: PydanticSerializationError in assemble


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"id": "a", "title": "x\xed\xa0\x80y"}', "invalid UTF-8 (an encoded lone surrogate at column 24)"),
        (b'{"id": "a\\ud800", "title": "x"}', "id contains a lone surrogate, half of a character"),
    ],
)  # fmt: skip
def test_lone_surrogates_that_cannot_be_removed_are_named(raw: bytes, reason: str) -> None:
    from newsletter.sources import parse_line

    result = parse_line(raw)
    assert isinstance(result, str) and reason in result


# --- 2. control characters --------------------------------------------------------------------


def test_control_characters_are_removed_from_every_format(tmp_path: Path) -> None:
    rss = parse_xml_feed(HOSTILE_RSS, "wire.rss", CFG)
    first = rss.items[0]
    assert first.title == "Raw bell in a title"
    assert "Entity bell" in first.summary and not UNCLEAN.search(first.summary)
    path = tmp_path / "n.jsonl"
    path.write_text(HOSTILE_JSONL, encoding="utf-8")
    bell = next(i for i in load_jsonl(path).items if i.id == "bel-title")
    assert (bell.title, bell.summary) == ("Ring the [31mbell", "NUL end")
    guide = parse_guide(HOSTILE_GUIDE, "hostile-guide")
    assert guide.title == "Bell and escape [31m in a title"
    assert guide.tldr == "NUL inside" and guide.topics == ("AI",)
    assert guide.takeaways == ("Tab kept as a space",)
    assert "\x07" not in guide.body and guide.body.endswith("BEL:  end.")


def test_a_raw_control_character_in_front_matter_is_located(tmp_path: Path) -> None:
    from newsletter.sources import load_guides

    text = HOSTILE_GUIDE.replace('"Bell \\a and', "Raw \x07 bell and")
    (tmp_path / "hostile-guide.md").write_text(text, encoding="utf-8")
    (problem,) = load_guides(tmp_path).problems
    assert str(problem).endswith(
        "hostile-guide.md:3: invalid YAML in front matter: unacceptable character #x0007: "
        "control characters are not allowed"
    )


def test_a_broken_ipv6_host_in_a_guid_or_link_is_no_crash() -> None:
    # Found by test_mangled_feeds_never_raise: urlsplit raises ValueError on "http://[x".
    doc = HOSTILE_RSS.replace(b"<link>https://wire.example/3</link>", b"<link>http://[x/3</link>")
    doc = doc.replace(b"<link>https://wire.example/4</link>", b"<guid>http://[x/4</guid><link>https://wire.example/4</link>")  # fmt: skip
    batch = parse_xml_feed(doc, "v6.rss", CFG)
    assert len(batch.items) == 4
    assert [p.reason[:8] for p in batch.problems] == ["entry 3:"]


# --- 4. entity expansion ----------------------------------------------------------------------


def test_internal_entities_are_never_expanded() -> None:
    value = "A" * 2000
    refs = "&big;" * 1000
    items = "".join(
        f"<item><title>T{n} &big;</title><link>https://b.example/{n}</link>"
        f"<description>{refs}</description>"
        "<pubDate>Sat, 21 Nov 2026 09:00:00 GMT</pubDate></item>"
        for n in range(8)
    )
    doc = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "{value}">\n]>\n'
        f"<rss version='2.0'><channel><title>Bomb</title>{items}</channel></rss>"
    ).encode()
    batch = parse_xml_feed(doc, "bomb.rss", CFG)
    # 8,000 references to a 2,000-character entity would be 16 MB of text; none is expanded.
    assert len(batch.items) == 8
    assert all(value not in i.title and value not in i.summary for i in batch.items)
    assert batch.items[0].title == "T0 &big;"


def test_external_entities_stay_inert(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY leak SYSTEM "file://{secret}">]>'
        "<rss version='2.0'><channel><title>X</title><item><title>Leak &leak;</title>"
        "<link>https://x.example/1</link><pubDate>Sat, 21 Nov 2026 09:00:00 GMT</pubDate>"
        "</item></channel></rss>"
    ).encode()
    assert "TOP-SECRET" not in repr(parse_xml_feed(doc, "x.rss", CFG))


# --- 5, 6. encodings --------------------------------------------------------------------------


def test_one_bad_byte_does_not_garble_a_utf8_feed() -> None:
    doc = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Café</title>"
        "<item><title>Crème brûlée</title><link>https://x.example/1</link>"
        "<pubDate>Sat, 21 Nov 2026 09:00:00 GMT</pubDate></item>"
        "<item><title>Bad BYTE</title><link>https://x.example/2</link>"
        "<pubDate>Sat, 21 Nov 2026 09:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()
    doc = doc.replace(b"BYTE", b"\xff byte")
    batch = parse_xml_feed(doc, "b.rss", CFG)
    assert [i.title for i in batch.items] == ["Crème brûlée", "Bad \ufffd byte"]
    assert batch.items[0].source == "Café"
    (problem,) = batch.problems
    assert problem.reason.startswith("not valid UTF-8: 1 bad byte sequence(s) replaced")


def test_the_http_charset_wins_over_the_guess() -> None:
    doc = "<rss version='2.0'><channel><title>Новости</title><item><title>Привет</title>"
    doc += "<link>https://x.example/1</link><pubDate>Sat, 21 Nov 2026 09:00:00 GMT</pubDate>"
    doc += "</item></channel></rss>"
    batch = parse_xml_feed(doc.encode("cp1251"), "u", CFG, charset="windows-1251")
    assert [(i.source, i.title) for i in batch.items] == [("Новости", "Привет")]
    assert batch.problems == []


# --- 8. dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("Sat, 21 Nov 2026 09:00:00 -0000", "2026-11-21T09:00:00+00:00"),
        ("Sat, 21 Nov 2026 09:00:00 +05:30", "2026-11-21T09:00:00+05:30"),
        ("Sat, 21 Nov 2026 09:00:00 GMT-01:01", "2026-11-21T09:00:00-01:01"),
        ("Sat, 21 Nov 2026 09:00:00 UTC+5", "2026-11-21T09:00:00+05:00"),
        ("2026-11-21t09:00:00z", "2026-11-21T09:00:00+00:00"),
        ("2026-11-21T23:59:60Z", "2026-11-21T23:59:59+00:00"),
        ("Sat, 21 Nov 2026 23:59:60 GMT", "2026-11-21T23:59:59+00:00"),
        ("Mon, 01 Jan 0001 00:00:00 GMT", "0001-01-01T00:00:00+00:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"),
        ("21 Nov 26 09:00 EST", "2026-11-21T09:00:00-05:00"),
    ],
)
def test_valid_dates_are_read(raw: str, iso: str) -> None:
    assert parse_feed_date(raw).isoformat() == iso


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("Sat, 21 Nov 2026 09:00:00", "no UTC offset"),
        ("2026-11-21T09:00:00", "no UTC offset"),
        ("yesterday", "not a date-time we can read"),
    ],
)
def test_dates_without_an_offset_are_still_refused(raw: str, words: str) -> None:
    with pytest.raises(DateError, match=words):
        parse_feed_date(raw)


# --- 9, 13. untitled items, JSON Feed titles --------------------------------------------------


def test_untitled_items_get_a_title_from_their_text() -> None:
    rss = parse_xml_feed(HOSTILE_RSS, "wire.rss", CFG)
    assert rss.items[1].title == "A Mastodon-style post without a title."
    feed = parse_json_feed(json.dumps(HOSTILE_JSON_FEED).encode(), "f.json", CFG)
    assert feed.items[1].title == "An untitled post."


def test_json_feed_title_is_plain_text() -> None:
    feed = parse_json_feed(json.dumps(HOSTILE_JSON_FEED).encode(), "f.json", CFG)
    assert feed.items[0].title == "Why <div> soup & AT&amp;T"


# --- 11 and the low items: HTML to text -------------------------------------------------------


def test_script_bodies_never_become_text() -> None:
    rss = parse_xml_feed(HOSTILE_RSS, "wire.rss", CFG)
    script = next(i for i in rss.items if i.title == "Script")
    assert script.summary == "Visible"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
        ("<dl><dt>a</dt><dd>b</dd></dl>", "a b"),
        ("a<hr>b<section>c</section>d", "a b c d"),
        ("a&nbsp;b &amp;nbsp; c", "a b c"),  # a double-escaped &nbsp; is a space too
        ("<style>p{}</style><script>x()</script>ok", "ok"),
    ],
)
def test_block_tags_separate_words(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_titles_lose_tabs_newlines_and_literal_nbsp() -> None:
    rss = parse_xml_feed(HOSTILE_RSS, "wire.rss", CFG)
    first = rss.items[0]
    assert first.summary == "Entity bell cell next term def word after sec"
    assert first.score == CFG.default_score  # <almanac:score/>: the default, not a rejection
    assert rss.items[2].title == "Leap second title here"
    assert rss.items[4].published_at.year == 1


# --- 12. JSON Feed detection ------------------------------------------------------------------


def test_a_json_feed_is_known_by_its_content() -> None:
    from newsletter.sources.formats import sniff

    items = [{"id": str(n), "content_text": "x" * 200} for n in range(40)]
    doc = json.dumps({"items": items, "version": "https://jsonfeed.org/version/1.1"})
    assert doc.index('"version"') > 4096
    assert sniff(doc.encode(), "application/json") == "jsonfeed"
    lines = "\n".join(jsonl_line(id=f"l-{n}", summary="jsonfeed.org/version/1") for n in range(3))
    assert sniff(lines.encode(), "application/json") == "jsonl"


# --- CLI: main() twice ------------------------------------------------------------------------


def test_main_registers_its_commands_once(capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        with pytest.raises(SystemExit):
            main(["--help"])
    capsys.readouterr()
    names = [c.name for c in app.registered_commands]
    assert len(names) == len(set(names))
