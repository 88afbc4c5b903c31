"""Feed loading against the web's worst: dead and trickling servers, an entity bomb, a corpus.

- 5 dead feed URLs (listening sockets that never answer), ``fetch_timeout`` 1.5 s: the feeds
  are fetched four at a time, so two deadlines in all rather than five.
- a server trickling one byte every 0.5 s: one deadline, not hours.
- a 121 KB RSS feed with one 100,000-character internal entity referenced 8,000 times:
  feedparser alone expanded it (37 s and 2.3 GiB measured in issue 9); the DOCTYPE is removed
  first now, so nothing is expanded.
- feedparser's own test feeds (tests/data/feedparser): files, entries, the slowest file.

Run with ``python -m bench feeds``; writes bench/results/feeds.md and feeds.json.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from newsletter.config import ContentConfig
from newsletter.sources import fetch_all, parse_xml_feed

RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "feedparser"
TIMEOUT = 1.5


def _dead_feeds() -> dict[str, Any]:
    holes = [socket.create_server(("127.0.0.1", 0)) for _ in range(5)]
    try:
        urls = [f"http://127.0.0.1:{h.getsockname()[1]}/feed.xml" for h in holes]
        started = time.monotonic()
        outcomes = fetch_all(urls, TIMEOUT, 1 << 20)
        elapsed = time.monotonic() - started
    finally:
        for hole in holes:
            hole.close()
    return {"case": "5 dead feeds", "seconds": elapsed, "result": str(outcomes[0])}


class _Trickle(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        try:
            for _ in range(7200):  # an hour at this pace
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _trickle() -> dict[str, Any]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        (outcome,) = fetch_all([f"http://127.0.0.1:{httpd.server_address[1]}/"], TIMEOUT, 1 << 20)
        elapsed = time.monotonic() - started
    finally:
        httpd.shutdown()
        httpd.server_close()
    return {"case": "1 byte every 0.5 s", "seconds": elapsed, "result": str(outcome)}


def _entity_bomb() -> dict[str, Any]:
    value = "A" * 100_000
    doc = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY e "{value}">\n]>\n'
        "<rss version='2.0'><channel><title>Bomb</title><item><title>T</title>"
        f"<link>https://b.example/1</link><description>{'&e;' * 8000}</description>"
        "<pubDate>Sat, 21 Nov 2026 09:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()
    started = time.perf_counter()
    batch = parse_xml_feed(doc, "bomb.rss", ContentConfig())
    elapsed = time.perf_counter() - started
    return {
        "case": f"entity bomb ({len(doc) // 1024} KB)",
        "seconds": elapsed,
        "result": f"{len(batch.items)} item, summary {len(batch.items[0].summary)} characters",
    }


def _corpus() -> dict[str, Any]:
    from tests.feed_corpus import run_corpus

    started = time.perf_counter()
    result = run_corpus(CORPUS)
    elapsed = time.perf_counter() - started
    slow = result.slowest()
    return {
        "case": f"feedparser corpus ({len(result.files)} files)",
        "seconds": elapsed,
        "result": (
            f"{result.parsed} entries parsed by feedparser, {result.eligible} complete, "
            f"{result.loaded} loaded; slowest {slow.path.name} {slow.seconds * 1000:.0f} ms"
        ),
    }


def main() -> None:
    import feedparser  # imported before timing: ~60 ms that every run pays once

    del feedparser
    rows = [_dead_feeds(), _trickle(), _entity_bomb(), _corpus()]
    lines = ["| case | wall s | result |", "| --- | ---: | --- |"]
    lines += [f"| {r['case']} | {r['seconds']:.2f} | {r['result']} |" for r in rows]
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "feeds.md").write_text(table, encoding="utf-8")
    (RESULTS / "feeds.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(table, end="")


if __name__ == "__main__":
    main()
