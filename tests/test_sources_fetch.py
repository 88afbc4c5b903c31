"""Feeds from a loopback server that misbehaves on purpose: each run ends within
``fetch_timeout`` + 1 s per feed with one right, one-line reason (issue 9)."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from newsletter.config import load_config
from newsletter.sources import LoadResult, load_content
from newsletter.sources.fetch import FetchError, fetch_url
from tests.conftest import write_config

TIMEOUT = 1.5
RSS = """<?xml version="1.0" encoding="{encoding}"?>
<rss version="2.0"><channel><title>{title}</title>
<item><title>{item}</title><link>{link}</link><guid>{guid}</guid>
<pubDate>Fri, 13 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""


def rss(
    title: str = "Loop", item: str = "An item", link: str = "https://x.example/1", **kw: str
) -> str:
    fields = {"encoding": "utf-8", "guid": link, **kw}
    return RSS.format(title=title, item=item, link=link, **fields)


Route = Callable[["_Handler"], None]


def _send(
    handler: _Handler, body: bytes, ctype: str = "application/rss+xml", **headers: str
) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", headers.pop("length", str(len(body))))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def _trickle(handler: _Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.end_headers()
    for byte in rss().encode() * 100:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.25)


def _trickle_headers(handler: _Handler) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(1000):
        handler.wfile.write(b"X-Slow: a\r\n")
        handler.wfile.flush()
        time.sleep(0.25)


def _endless(handler: _Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.end_headers()
    handler.wfile.write(b"<rss version='2.0'><channel><title>Endless</title>")
    chunk = b"<item><title>x</title></item>" * 1000
    while True:
        handler.wfile.write(chunk)


def _truncated(handler: _Handler) -> None:
    body = rss().encode()
    _send(handler, body[: len(body) // 2], length=str(len(body)))


def _redirect(target: str) -> Route:
    def route(handler: _Handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def _gzipped(handler: _Handler) -> None:
    _send(
        handler,
        gzip.compress(rss(item="Zipped", link="https://x.example/z").encode()),
        Content_Encoding="gzip",
    )


def _bad_status(handler: _Handler) -> None:
    handler.wfile.write(b"HTTP/1.1 two hundred\r\nsecond line\r\n\r\n")


def _windows_1251(handler: _Handler) -> None:
    # The declaration says nothing; the HTTP charset says windows-1251 (as many Russian sites).
    body = rss(title="Новости", item="Привет, мир", link="https://x.example/ru").replace(
        ' encoding="utf-8"', ""
    )
    _send(handler, body.encode("cp1251"), "text/xml; charset=windows-1251")


def _json_feed_late_version(handler: _Handler) -> None:
    # Keys in alphabetical order: "items" (here 6 KB of them) comes before "version".
    items = [
        {
            "content_text": "x" * 100,
            "date_published": "2026-11-13T09:00:00Z",
            "id": f"https://late.example/{n}",
            "title": f"Late {n}",
            "url": f"https://late.example/{n}",
        }
        for n in range(40)
    ]
    doc = {"items": items, "title": "Late", "version": "https://jsonfeed.org/version/1.1"}
    _send(handler, json.dumps(doc, sort_keys=True).encode(), "application/json")


def _basic_auth(handler: _Handler) -> None:
    expected = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    if handler.headers.get("Authorization") != expected:
        handler.send_response(401)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    _send(handler, rss(item="Behind a password", link="https://x.example/p").encode())


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        try:
            if route is None:
                self.send_error(404)
            else:
                route(self)
        except OSError:  # the client gave up (deadline, size limit): expected
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    relative = rss(item="Relative", link="../posts/1.html", guid="rel-1").encode()
    _Handler.routes = {
        "/trickle": _trickle,
        "/trickle-headers": _trickle_headers,
        "/endless": _endless,
        "/truncated": _truncated,
        "/moved": _redirect("/feeds/final/feed"),
        "/feeds/final/feed": lambda h: _send(h, relative, "text/html"),
        "/away": _redirect(f"{base}/feeds/final/feed"),
        "/loop": _redirect("/loop"),
        "/to-ftp": _redirect("ftp://x.example/feed.xml"),
        "/gzip": _gzipped,
        "/bad-status": _bad_status,
        "/cyrillic": _windows_1251,
        "/late-version": _json_feed_late_version,
        "/as-json": lambda h: _send(
            h, rss(item="Typed wrong", link="https://x.example/j").encode(), "application/json"
        ),
        "/as-ndjson": lambda h: _send(
            h, rss(item="Typed wrong", link="https://x.example/n").encode(), "application/x-ndjson"
        ),
        "/private": _basic_auth,
        "/to-private": _redirect("/private"),
        "/%C3%B1o%C3%B1o.xml": lambda h: _send(
            h, rss(item="Non-ASCII path", link="https://x.example/a").encode()
        ),
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        httpd.shutdown()
        httpd.server_close()


def load(tmp_path: Path, urls: list[str], **content: Any) -> tuple[LoadResult, float]:
    settings = {"news": urls, "fetch_timeout": TIMEOUT, **content}
    cfg = load_config(write_config(tmp_path, content=settings), env={})
    started = time.monotonic()
    result = load_content(cfg)
    return result, time.monotonic() - started


def only_reason(result: LoadResult) -> str:
    (problem,) = [p for p in result.problems if p.path.startswith("http")]
    assert "\n" not in problem.reason
    return problem.reason


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/trickle", f"could not fetch: no complete answer within {TIMEOUT:g} s"),
        ("/trickle-headers", f"could not fetch: no complete answer within {TIMEOUT:g} s"),
        ("/endless", "could not fetch: larger than 65,536 bytes"),
        ("/truncated", "could not fetch: the download was cut off ("),
        ("/loop", "could not fetch: HTTP 302, a redirect loop"),
        ("/to-ftp", "could not fetch: redirected to a ftp: URL; only http and https are fetched"),
        ("/bad-status", "could not fetch: the answer is not HTTP (status line"),
    ],
)
def test_a_misbehaving_server_costs_one_deadline_and_one_line(
    tmp_path: Path, server: str, path: str, reason: str
) -> None:
    result, elapsed = load(tmp_path, [server + path], max_feed_bytes=65536)
    assert result.catalog.news == ()
    assert only_reason(result).startswith(reason)
    print(f"{path}: {elapsed:.2f} s")
    assert elapsed < TIMEOUT + 1 + 1  # the feed's deadline + 1 s, + 1 s for loading the guides


def test_dead_feeds_are_fetched_at_once(tmp_path: Path) -> None:
    # Listening sockets that never answer: each fetch waits for its whole deadline.
    holes = [socket.create_server(("127.0.0.1", 0)) for _ in range(5)]
    try:
        urls = [f"http://127.0.0.1:{h.getsockname()[1]}/feed.xml" for h in holes]
        result, elapsed = load(tmp_path, urls)
    finally:
        for hole in holes:
            hole.close()
    reasons = [p.reason for p in result.problems if p.path.startswith("http")]
    assert reasons == [f"could not fetch: no complete answer within {TIMEOUT:g} s"] * 5
    assert elapsed < 5 * (TIMEOUT + 1)  # one after another this was 5 deadlines at least
    print(f"5 dead feeds: {elapsed:.2f} s")


def test_redirects_resolve_relative_links_against_the_final_url(
    tmp_path: Path, server: str
) -> None:
    result, _ = load(tmp_path, [f"{server}/moved", f"{server}/away"])
    urls = [i.url for i in result.catalog.news if i.url.startswith(server)]
    # One item: the second feed has the same guid, reported as a duplicate.
    assert urls == [f"{server}/feeds/posts/1.html"]
    assert any("duplicate id" in p.reason for p in result.problems)


def test_gzip_charset_types_auth_and_non_ascii_paths(tmp_path: Path, server: str) -> None:
    urls = [
        f"{server}/gzip",
        f"{server}/cyrillic",
        f"{server}/late-version",
        f"{server}/as-json",
        f"{server}/as-ndjson",
        f"{server}/private".replace("://", "://reader:s3cret@"),
        f"{server}/ñoño.xml",
    ]
    result, _ = load(tmp_path, urls)
    assert [p for p in result.problems if p.path.startswith("http")] == []
    mine = result.catalog.news
    titles = {i.title for i in mine}
    assert {"Zipped", "Привет, мир", "Typed wrong", "Behind a password", "Non-ASCII path"} <= titles
    assert {i.source for i in mine if i.title == "Привет, мир"} == {"Новости"}
    assert sum(1 for i in mine if i.title.startswith("Late ")) == 40


def test_credentials_are_sent_but_never_follow_a_redirect_or_reach_a_message(
    tmp_path: Path, server: str
) -> None:
    fetched = fetch_url(f"{server}/private".replace("://", "://reader:s3cret@"), TIMEOUT, 65536)
    assert b"Behind a password" in fetched.body
    with pytest.raises(FetchError, match="HTTP 401"):
        fetch_url(f"{server}/to-private".replace("://", "://reader:s3cret@"), TIMEOUT, 65536)
    result, _ = load(tmp_path, [f"{server}/to-private".replace("://", "://reader:s3cret@")])
    assert only_reason(result) == "could not fetch: HTTP 401 Unauthorized"
    assert all("s3cret" not in str(p) for p in result.problems)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://x.example/feed.xml", "only http and https feed URLs are fetched (got ftp:)"),
        ("file:///etc/feed.xml", "file: URLs are not read: give the path instead"),
    ],
)
def test_other_schemes_are_named(tmp_path: Path, url: str, reason: str) -> None:
    result, _ = load(tmp_path, [url])
    assert [p.reason for p in result.problems if p.path == url] == [reason]
