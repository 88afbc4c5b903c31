"""RSS 2.0, Atom and JSON Feed news, from files and from a local HTTP server."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.config import ContentConfig, load_config
from newsletter.sources import entry_slug, load_content, parse_json_feed, parse_xml_feed
from tests.conftest import DATA, write_config

FEEDS = DATA / "feeds"
SLUG = re.compile(r"^[a-z0-9-]+$")
CONTENT = ContentConfig()


def rss(content: ContentConfig = CONTENT) -> Any:
    return parse_xml_feed((FEEDS / "wire.rss").read_bytes(), "wire.rss", content)


def by_entry(batch: Any) -> dict[int, str]:
    found = {}
    for problem in batch.problems:
        match = re.match(r"entry (\d+): (.*)", problem.reason)
        assert match, problem.reason
        found[int(match.group(1))] = match.group(2)
    return found


def test_rss_entries_are_mapped() -> None:
    batch = rss()
    first, second = batch.items
    assert first.title == "OpenAI and Microsoft amend their deal"
    assert first.url == "https://wire.example/2026/11/openai-microsoft-deal.html"
    assert first.source == "Example AI Wire"
    assert first.score == 7.5
    assert first.published_at.isoformat() == "2026-11-12T14:05:00+00:00"
    assert first.summary == "The two companies amended their agreement & more."
    assert first.topics == ("OpenAI", "Microsoft")
    assert first.id.startswith("openai-microsoft-deal-")
    # A plain-text title keeps its markup characters; no summary carries script.
    assert second.title == 'AT&T <3 "AI" — 日本語'
    assert second.score == CONTENT.default_score
    assert second.published_at.utcoffset() is not None
    assert second.published_at.isoformat() == "2026-11-13T09:00:00+01:00"
    assert len(second.summary) <= 5000
    assert second.summary.endswith("…")
    assert all(SLUG.match(item.id) for item in batch.items)
    assert "alert" not in first.summary


def test_rss_bad_entries_are_reported_by_number() -> None:
    found = by_entry(rss())
    assert sorted(found) == [3, 4, 5, 6, 7]
    assert "url scheme must be http or https (got javascript)" in found[3]
    assert "no published or updated date" in found[4]
    assert "no UTC offset" in found[5]
    assert "score must be between 0 and 10 (got 12)" in found[6]
    assert found[7].startswith("duplicate id 'openai-microsoft-deal-")
    assert "wire.rss entry 1 already defines it" in found[7]
    assert str(rss().problems[0]).startswith("wire.rss: entry 3: ")


def test_ids_are_stable_and_scoped() -> None:
    assert [i.id for i in rss().items] == [i.id for i in rss().items]
    assert entry_slug("42", "Feed A") != entry_slug("42", "Feed B")
    assert entry_slug("https://x.example/a", "Feed A") == entry_slug("https://x.example/a", "B")
    assert SLUG.match(entry_slug("urn:uuid:1225C695-CFB8-4EBB", "X"))
    assert SLUG.match(entry_slug("!!!", "X"))


def test_source_scores_give_a_per_source_default() -> None:
    content = ContentConfig(source_scores={"Example AI Wire": 8.5}, default_score=3)
    first, second = rss(content).items
    assert (first.score, second.score) == (7.5, 8.5)


def test_atom_entries_are_mapped() -> None:
    batch = parse_xml_feed((FEEDS / "labnotes.atom").read_bytes(), "labnotes.atom", CONTENT)
    first, second = batch.items
    assert first.source == "Lab & Notes"
    assert first.title == "Gemini gets a new & bigger context"
    assert first.score == 8
    assert first.summary == "Context windows grow. Again."
    assert first.published_at.isoformat() == "2026-11-14T08:30:00+01:00"
    assert first.topics == ("Google DeepMind", "Gemini")
    assert first.id.startswith("gemini-context-")
    assert second.published_at.isoformat() == "2026-11-15T10:00:00+00:00"
    assert second.summary == "Plain summary text."
    found = by_entry(batch)
    assert "no UTC offset" in found[3]
    assert "almanac:score must be a number (got 'high')" in found[4]


def test_json_feed_entries_are_mapped() -> None:
    batch = parse_json_feed((FEEDS / "digest.json").read_bytes(), "digest.json", CONTENT)
    first, second = batch.items
    assert first.source == "Model Digest"
    assert first.score == 6
    assert first.summary == "Better tools & agents."
    assert first.topics == ("Anthropic", "Claude")
    assert first.published_at.isoformat() == "2026-11-16T12:00:00-05:00"
    assert second.score == CONTENT.default_score
    assert SLUG.match(second.id)
    found = by_entry(batch)
    assert sorted(found) == [3, 4, 5, 6]
    assert "score must be a number (got True)" in found[3]
    assert "no UTC offset" in found[4]
    assert "not a JSON object" in found[5]
    assert "got ftp" in found[6]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not an RSS or Atom feed"),
        (b"plain text, not a feed", "not an RSS or Atom feed"),
        (b"<html><body>hello</body></html>", "not an RSS or Atom feed"),
    ],
)
def test_not_a_feed_is_one_problem(data: bytes, words: str) -> None:
    batch = parse_xml_feed(data, "x.xml", CONTENT)
    assert batch.items == []
    assert len(batch.problems) == 1
    assert words in batch.problems[0].reason


def test_a_cut_off_feed_keeps_what_it_can_and_says_so() -> None:
    data = (FEEDS / "wire.rss").read_bytes()
    cut = data[: data.index(b"<item>", data.index(b"<item>") + 1) + 40]
    batch = parse_xml_feed(cut, "cut.rss", CONTENT)
    assert [i.title for i in batch.items] == ["OpenAI and Microsoft amend their deal"]
    assert any("not well-formed XML" in p.reason for p in batch.problems)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"{", "invalid JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'{"version": "2", "items": []}', "not a JSON Feed"),
        (b'["not", "a", "feed"]', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "items is not a list"),
    ],
)
def test_bad_json_feed_is_one_problem(data: bytes, words: str) -> None:
    batch = parse_json_feed(data, "x.json", CONTENT)
    assert batch.items == []
    assert [words in p.reason for p in batch.problems] == [True]


RELATIVE = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Rel</title>
<item><title>Relative link</title><link>/posts/1</link>
<pubDate>Fri, 13 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_a_relative_link_in_a_local_feed_is_rejected() -> None:
    batch = parse_xml_feed(RELATIVE, "rel.rss", CONTENT)
    assert batch.items == []
    assert "url must be an absolute http(s) URL" in batch.problems[0].reason


def test_external_entities_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    doc = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY leak SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><title>X</title>
<item><title>Leak &leak;</title><link>https://x.example/1</link>
<description>&leak;</description>
<pubDate>Fri, 13 Nov 2026 09:00:00 GMT</pubDate></item></channel></rss>""".encode()
    batch = parse_xml_feed(doc, "leak.rss", CONTENT)
    assert "TOP-SECRET" not in repr(batch)


# --- feeds from URLs --------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(3)
        status, ctype, body = self.routes.get(self.path, (404, "text/plain", b"not found"))
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.routes = {
        "/wire.rss": (200, "application/rss+xml", (FEEDS / "wire.rss").read_bytes()),
        "/feed": (200, "application/octet-stream", (FEEDS / "labnotes.atom").read_bytes()),
        "/digest": (200, "application/json", (FEEDS / "digest.json").read_bytes()),
        "/lines": (
            200,
            "text/plain",
            (Path(__file__).parent.parent / "content" / "news.jsonl").read_bytes(),
        ),
        "/junk": (200, "text/plain", b"hello"),
        "/relative.rss": (200, "text/xml", RELATIVE),
        "/broken": (500, "text/plain", b"boom"),
    }
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_feed_urls_are_fetched_sniffed_and_failures_reported(tmp_path: Path, server: str) -> None:
    urls = [
        f"{server}/wire.rss",
        f"{server}/feed",
        f"{server}/digest",
        f"{server}/lines",
        f"{server}/broken",
        f"{server}/missing.xml",
        f"{server}/junk",
        f"{server}/relative.rss",
        f"http://127.0.0.1:{_closed_port()}/feed.xml",
    ]
    cfg = load_config(write_config(tmp_path, content={"news": urls, "fetch_timeout": 5}))
    result = load_content(cfg)
    sources = {s.origin.removeprefix(server): (s.items, s.problems) for s in result.sources}
    assert sources["/wire.rss"] == (2, 5)
    assert sources["/feed"] == (2, 2)
    assert sources["/digest"] == (2, 4)
    assert sources["/lines"] == (76, 0)
    assert len(result.catalog.news) == 2 + 2 + 2 + 76 + 1
    assert result.catalog.news[-1].url == f"{server}/posts/1"
    assert len(result.catalog.guides) == 16
    reasons = {p.path.removeprefix(server): p.reason for p in result.problems if p.line is None}
    assert reasons["/broken"] == "could not fetch: HTTP 500 Internal Server Error"
    assert reasons["/missing.xml"] == "could not fetch: HTTP 404 Not Found"
    assert reasons["/junk"].startswith("not a news format we read")
    refused = [
        p for p in result.problems if "could not fetch" in p.reason and "127.0.0.1:" in p.path
    ]
    assert len(refused) == 3


def test_a_slow_feed_times_out_as_one_problem(tmp_path: Path, server: str) -> None:
    cfg = load_config(
        write_config(tmp_path, content={"news": [f"{server}/slow"], "fetch_timeout": 0.3})
    )
    result = load_content(cfg)
    assert result.catalog.news == ()
    assert len(result.problems) == 1
    assert result.problems[0].reason.startswith("could not fetch")


def test_credentials_in_a_feed_url_never_reach_a_message(tmp_path: Path) -> None:
    url = f"http://user:s3cret@127.0.0.1:{_closed_port()}/feed.xml"
    cfg = load_config(write_config(tmp_path, content={"news": [url], "fetch_timeout": 2}))
    result = load_content(cfg)
    assert result.problems
    assert all("s3cret" not in str(p) for p in result.problems)


# --- robustness -------------------------------------------------------------------------

_RSS = (FEEDS / "wire.rss").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mangled_feeds_never_raise(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(_RSS)))
    end = data.draw(st.integers(start, min(len(_RSS), start + 200)))
    junk = data.draw(st.binary(max_size=40))
    mangled = _RSS[:start] + junk + _RSS[end:]
    batch = parse_xml_feed(mangled, "m.rss", CONTENT)
    assert all(SLUG.match(i.id) for i in batch.items)
    assert all(p.reason for p in batch.problems)


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
_item = st.fixed_dictionaries(
    {},
    optional={
        key: _json_value
        for key in ("id", "url", "title", "summary", "content_html", "date_published", "tags")
    },
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(_item, _json_value), max_size=6))
def test_random_json_feed_items_never_raise(items: list[Any]) -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": items}
    batch = parse_json_feed(json.dumps(doc).encode(), "r.json", CONTENT)
    assert len(batch.items) + len(batch.problems) == len(items)
