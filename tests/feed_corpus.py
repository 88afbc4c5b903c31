"""Run the feed loaders over a folder of test feeds and compare with what feedparser parses.

Used by tests/test_sources_corpus.py (over the committed copy of feedparser's own test feeds,
tests/data/feedparser/) and runnable by hand over any folder for the figures:

    python -m tests.feed_corpus FOLDER
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.config import ContentConfig
from newsletter.sources import parse_json_feed, parse_xml_feed
from newsletter.sources.dates import DateError, parse_feed_date
from newsletter.sources.formats import sniff_content
from newsletter.sources.text import html_to_text

BASE = "http://corpus.example/feeds/"
"""Every file is read as if fetched from here, so relative links resolve as on the web."""
_ENTRY = re.compile(r"^entry (\d+): (.*)$")
_VARIABLE = re.compile(r"'[^']*'|\([^)]*\)|\d+")


@dataclass
class FileResult:
    """One file: entries feedparser found complete, the ones we loaded, our reasons."""

    path: Path
    seconds: float
    parsed: int = 0
    eligible: int = 0
    loaded: int = 0
    missing: list[tuple[int, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass
class CorpusResult:
    files: list[FileResult]

    @property
    def parsed(self) -> int:
        return sum(f.parsed for f in self.files)

    @property
    def eligible(self) -> int:
        return sum(f.eligible for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    def reasons(self) -> Counter[str]:
        """Problems by reason, with names and numbers folded so alike reasons count together."""
        found: Counter[str] = Counter()
        for result in self.files:
            for reason in result.reasons:
                match = _ENTRY.match(reason)
                text = match.group(2) if match else reason
                found[_VARIABLE.sub("…", text)[:90]] += 1
        return found

    def slowest(self) -> FileResult:
        return max(self.files, key=lambda f: f.seconds)


def _has_text(entry: Any) -> bool:
    if html_to_text(str(entry.get("title") or "")):
        return True
    content = entry.get("content") or [{}]
    return bool(html_to_text(str(entry.get("summary") or content[0].get("value") or "")))


def _has_date(entry: Any) -> bool:
    """feedparser found a date, and it is one a reader can place: it carries its offset."""
    raw = entry.get("published") or entry.get("updated")
    if not raw or not (entry.get("published_parsed") or entry.get("updated_parsed")):
        return False
    try:
        parse_feed_date(str(raw))
    except DateError as exc:
        return "no UTC offset" not in str(exc)
    return True


def _complete(entry: Any) -> bool:
    """An entry with a title or text, an http(s) link and a date, as feedparser reads it."""
    link = str(entry.get("link") or "")
    return link.startswith(("http://", "https://")) and _has_text(entry) and _has_date(entry)


def run_file(path: Path, content: ContentConfig) -> FileResult:
    """Load one file with our loaders and with feedparser alone; compare."""
    import feedparser

    data = path.read_bytes()
    started = time.perf_counter()
    fmt = sniff_content(data)
    if fmt == "jsonfeed":
        batch = parse_json_feed(data, path.name, content, base_url=BASE + path.name)
    else:
        batch = parse_xml_feed(data, path.name, content, base_url=BASE + path.name)
    result = FileResult(path, time.perf_counter() - started, loaded=len(batch.items))
    result.reasons = [p.reason for p in batch.problems]
    if fmt == "jsonfeed":
        return result
    parsed = feedparser.parse(
        data, response_headers={"content-location": BASE + path.name}, sanitize_html=False
    )
    rejected = {}
    for reason in result.reasons:
        match = _ENTRY.match(reason)
        if match:
            rejected[int(match.group(1))] = match.group(2)
    result.parsed = len(parsed.entries)
    for number, entry in enumerate(parsed.entries, start=1):
        if _complete(entry):
            result.eligible += 1
            if number in rejected or number > len(parsed.entries):
                result.missing.append((number, rejected.get(number, "not loaded")))
    return result


def run_corpus(folder: Path, content: ContentConfig | None = None) -> CorpusResult:
    """Every file under ``folder`` (feeds only: .xml, .rss, .atom, .rdf, .json)."""
    content = content or ContentConfig()
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in (".xml", ".rss", ".atom", ".rdf", ".json")
    )
    return CorpusResult([run_file(path, content) for path in files])


def report(result: CorpusResult, top: int = 15) -> str:
    """The figures as text: files, entries, problems by reason, the slowest file."""
    slow = result.slowest()
    lines = [
        f"files: {len(result.files)}",
        f"entries parsed by feedparser: {result.parsed}",
        f"  of which complete (title or text, http(s) link, dated with offset): {result.eligible}",
        f"entries loaded: {result.loaded}",
        f"complete entries not loaded: {sum(len(f.missing) for f in result.files)}",
        f"slowest file: {slow.path.name} {slow.seconds * 1000:.1f} ms",
        f"total load time: {sum(f.seconds for f in result.files):.2f} s",
        "problems by reason:",
    ]
    lines += [f"  {count:5} {reason}" for reason, count in result.reasons().most_common(top)]
    for file in result.files:
        for number, reason in file.missing:
            lines.append(f"  MISSING {file.path}: entry {number}: {reason}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run_corpus(Path(sys.argv[1])), top=int(sys.argv[2]) if len(sys.argv) > 2 else 25))
