"""News items from feeds: RSS 2.0 and Atom (via feedparser) and JSON Feed 1.1.

Mapping to NewsItem:

- ``id``: a stable slug from the entry's id/guid (else its link): readable words from its last
  path segment plus 10 hex digits of a SHA-256. Ids that are not URIs (``"42"``) are scoped by
  the feed's title, so two feeds numbering their items alike do not collide.
- ``title`` and ``summary``: plain text (HTML reduced to text where the format says HTML;
  JSON Feed ``title`` and ``summary`` are plain text by its spec), cleaned by
  ``text.clean_text``; a summary longer than 5,000 characters (a title longer than 300) is cut
  with an ellipsis rather than rejected. An entry without a title gets its text's first
  sentence.
- ``url``: the entry's link; only absolute http(s) URLs are accepted.
- ``source``: the feed's title (else the feed's host, else the file name).
- ``published_at``: the published (else updated) date, which must carry a UTC offset;
  an entry without a readable, offset-bearing date is rejected (see dates.py).
- ``score``: ``<almanac:score>`` in the ``https://almanac.example/ns/1.0`` namespace (RSS/Atom)
  or ``"_almanac": {"score": ...}`` (JSON Feed); else ``content.source_scores[source]``,
  else ``content.default_score``.
- ``topics``: the entry's categories / tags.

Unknown elements and extension fields are ignored. Every rejected entry is reported as
``<feed>: entry N: <reason>`` and skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import ValidationError

from newsletter.config import ContentConfig
from newsletter.models import NewsItem
from newsletter.sources.common import IdRegistry, NewsBatch, duplicate_reason
from newsletter.sources.dates import DateError, parse_feed_date
from newsletter.sources.reasons import describe, json_value_reason, show
from newsletter.sources.text import (
    clean_text,
    derive_title,
    html_to_text,
    truncate,
    unwanted_characters,
)
from newsletter.sources.xmlprep import prepare_xml

ALMANAC_NS = "https://almanac.example/ns/1.0"
"""Namespace of the ``almanac:score`` element in RSS and Atom feeds."""
JSON_FEED_VERSION = "https://jsonfeed.org/version/1"
TITLE_LIMIT = 300
SUMMARY_LIMIT = 5000

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PAGE_SUFFIX = re.compile(r"\.(?:s?html?|php|aspx?|jsp)$")


class EntryError(ValueError):
    """One entry is rejected; the message is the reason."""


@dataclass(frozen=True)
class FeedInfo:
    """What every entry of one feed shares."""

    origin: str
    source: str
    default_score: float


def _url_path(url: str) -> str:
    """The path of ``url``; for a URL urlsplit refuses (a broken IPv6 host), what follows
    its host."""
    try:
        return urlsplit(url).path
    except ValueError:
        return "/" + url.partition("://")[2].partition("/")[2]


def entry_slug(key: str, source: str) -> str:
    """A stable ``[a-z0-9-]+`` id for a feed entry, from its id/guid or link."""
    scoped = key if ":" in key else f"{source}\n{key}"
    # surrogatepass: a JSON Feed id may hold a lone surrogate ("\ud800" is legal JSON); the id
    # must still be stable and never raise.
    digest = hashlib.sha256(scoped.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    tail = key
    if "://" in key:
        path = _url_path(key).rstrip("/")
        tail = _PAGE_SUFFIX.sub("", PurePosixPath(path).name) if path else ""
    elif ":" in key:  # tag: and urn: ids: the last segment is the readable part
        tail = re.split(r"[:/]", key.rstrip("/"))[-1]
    words = _NOT_SLUG.sub("-", tail.lower()).strip("-")[:40].strip("-")
    return f"{words}-{digest}" if words else digest


def _plain(value: Any, what: str, html: bool) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryError(f"{what} must be a string (got {show(value)})")
    return html_to_text(value) if html else clean_text(value)


def _title(raw: Any, html: bool, summary: str) -> str:
    """The entry's title as plain text; an entry without one gets its text's first sentence
    (JSON Feed 1.1 makes the title optional, RSS needs a title or a description)."""
    title = _plain(raw, "title", html)
    if not title:
        title = derive_title(summary)
    if not title:
        raise EntryError("entry has no title and no text to make one from")
    return truncate(title, TITLE_LIMIT)


def _link(value: Any) -> str:
    if not isinstance(value, str):
        raise EntryError(f"url must be a string (got {show(value)})")
    bad = unwanted_characters(value)
    if bad:
        raise EntryError(f"url contains control characters ({', '.join(bad)})")
    return value.strip()


def _score(value: Any) -> Any:
    """A score given as text in XML becomes a number; anything else is checked by NewsItem."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise EntryError(f"almanac:score must be a number (got {show(value)})") from None
    return value


def _topics(values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        topic = html_to_text(value)
        if topic:
            seen.setdefault(topic, None)
    return list(seen)


def _build(fields: dict[str, Any]) -> NewsItem:
    try:
        return NewsItem.model_validate(fields)
    except ValidationError as exc:
        raise EntryError(describe(exc)) from None


def _keep(batch: NewsBatch, registry: IdRegistry, number: int, item: NewsItem) -> None:
    earlier = registry.claim(item.id, batch.origin, number, unit="entry")
    if earlier is not None:
        batch.problem(f"entry {number}: {duplicate_reason(item.id, earlier)}")
    else:
        batch.items.append(item)


def _source_name(title: str, link: str, origin: str) -> str:
    if title:
        return title
    try:
        host = urlsplit(link).hostname if link else None
    except ValueError:  # "http://[oops/": urlsplit refuses a broken IPv6 host
        host = None
    return host or PurePosixPath(_url_path(origin)).stem or origin


def _default_score(content: ContentConfig, source: str) -> float:
    return content.source_scores.get(source, content.default_score)


# --- RSS 2.0 and Atom ------------------------------------------------------------------------


def _is_html(detail: Mapping[str, Any] | None) -> bool:
    return detail is None or "html" in str(detail.get("type", "html"))


def _xml_entry(info: FeedInfo, entry: Mapping[str, Any], score_key: str | None) -> NewsItem:
    link = entry.get("link") or ""
    key = entry.get("id") or link
    if not key:
        raise EntryError("entry has no id, guid or link")
    if not link:
        raise EntryError("entry has no link")
    summary_detail = entry.get("summary_detail")
    summary_raw = entry.get("summary")
    if not summary_raw and entry.get("content"):
        summary_detail = entry["content"][0]
        summary_raw = summary_detail.get("value")
    summary = _plain(summary_raw, "summary", _is_html(summary_detail))
    title = _title(entry.get("title"), _is_html(entry.get("title_detail")), summary)
    try:
        published = parse_feed_date(entry.get("published") or entry.get("updated") or "")
    except DateError as exc:
        raise EntryError(str(exc)) from None
    raw_score = entry.get(score_key) if score_key else None
    if isinstance(raw_score, str) and not raw_score.strip():
        raw_score = None  # <almanac:score/>: no score given, so the feed's default
    tags = [t.get("term") or t.get("label") or "" for t in entry.get("tags") or ()]
    return _build(
        {
            "id": entry_slug(str(key), info.source),
            "title": title,
            "url": _link(link),
            "source": info.source,
            "published_at": published,
            "score": info.default_score if raw_score is None else _score(raw_score),
            "summary": truncate(summary, SUMMARY_LIMIT),
            "topics": _topics([t for t in tags if isinstance(t, str)]),
        },
    )


def parse_xml_feed(
    data: bytes,
    origin: str,
    content: ContentConfig,
    registry: IdRegistry | None = None,
    base_url: str | None = None,
    charset: str | None = None,
) -> NewsBatch:
    """Read an RSS 2.0 or Atom document (bytes, never a URL: feedparser must not fetch).

    ``base_url`` (the feed's final URL, after redirects) resolves relative links; without it
    they are rejected. ``charset`` is the HTTP one, which wins over the XML declaration.
    """
    import feedparser  # ~60 ms to import: only runs that read an RSS/Atom feed pay for it

    registry = IdRegistry() if registry is None else registry
    batch = NewsBatch(origin=origin, kind="feed")
    prepared = prepare_xml(data, charset)
    for note in prepared.notes:
        batch.problem(note)
    # The document is UTF-8 now and says so; the header keeps feedparser from guessing again.
    headers = {"content-type": "application/xml; charset=utf-8"}
    if base_url:
        headers["content-location"] = base_url
    try:
        # sanitize_html=False: feedparser's sanitiser turns a <script> body into text before
        # nh3 could drop it with its element; nh3 (html_to_text) removes every tag instead.
        parsed = feedparser.parse(
            prepared.data,
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers=headers,
        )
    except Exception as exc:  # feedparser raises assorted errors on hostile bytes
        batch.problem(f"not a readable RSS or Atom feed ({type(exc).__name__}: {str(exc)[:120]})")
        return batch
    entries = parsed.get("entries") or []
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    malformed = error is not None and type(error).__name__ == "SAXParseException"
    if not parsed.get("version") and not entries:
        detail = f" ({error})" if error is not None else ""
        batch.problem(f"not an RSS or Atom feed{detail}")
        return batch
    if malformed:
        batch.problem(
            f"the feed is not well-formed XML ({error}); "
            f"kept the {len(entries)} entries that could be read"
        )
    feed = parsed.get("feed") or {}
    title = _plain(feed.get("title"), "feed title", _is_html(feed.get("title_detail")))
    source = _source_name(title, str(feed.get("link") or ""), origin)
    info = FeedInfo(origin, source, _default_score(content, source))
    namespaces: dict[str, str] = parsed.get("namespaces") or {}
    prefix = next((p for p, uri in namespaces.items() if uri.rstrip("/") == ALMANAC_NS), None)
    score_key = f"{prefix}_score" if prefix else None
    for number, entry in enumerate(entries, start=1):
        try:
            item = _xml_entry(info, entry, score_key)
        except EntryError as exc:
            batch.problem(f"entry {number}: {exc}")
            continue
        _keep(batch, registry, number, item)
    return batch


# --- JSON Feed 1.1 ---------------------------------------------------------------------------


def _json_entry(info: FeedInfo, entry: Any, base_url: str | None) -> NewsItem:
    if not isinstance(entry, dict):
        raise EntryError("the item is not a JSON object")
    link = entry.get("url") or entry.get("external_url")
    key = entry.get("id")
    if isinstance(key, int | float) and not isinstance(key, bool):
        key = str(key)
    key = key or link
    if not isinstance(key, str) or not key:
        raise EntryError("item has no id or url")
    if not link:
        raise EntryError("item has no url")
    link = _link(link)
    if base_url:
        try:
            link = urljoin(base_url, link)
        except ValueError:
            raise EntryError(f"url is not a valid URL (got {show(link)})") from None
    # JSON Feed 1.1: title and summary are plain text, content_html is HTML.
    summary = _plain(entry.get("summary"), "summary", html=False)
    if not summary:
        summary = _plain(entry.get("content_text"), "content_text", html=False)
    if not summary:
        summary = _plain(entry.get("content_html"), "content_html", html=True)
    title = _title(entry.get("title"), False, summary)
    raw_date = entry.get("date_published") or entry.get("date_modified") or ""
    if not isinstance(raw_date, str):
        raise EntryError(f"date_published must be a string (got {show(raw_date)})")
    try:
        published = parse_feed_date(raw_date)
    except DateError as exc:
        raise EntryError(str(exc)) from None
    extension = entry.get("_almanac")
    score = extension.get("score") if isinstance(extension, dict) else None
    tags = entry.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise EntryError(f"tags must be a list of strings (got {show(tags)})")
    return _build(
        {
            "id": entry_slug(key, info.source),
            "title": title,
            "url": link,
            "source": info.source,
            "published_at": published,
            "score": info.default_score if score is None else score,
            "summary": truncate(summary, SUMMARY_LIMIT),
            "topics": _topics(tags),
        },
    )


def parse_json_feed(
    data: bytes,
    origin: str,
    content: ContentConfig,
    registry: IdRegistry | None = None,
    base_url: str | None = None,
) -> NewsBatch:
    """Read a JSON Feed 1.x document; ``base_url`` resolves relative item URLs."""
    registry = IdRegistry() if registry is None else registry
    batch = NewsBatch(origin=origin, kind="jsonfeed")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        batch.problem(f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})")
        return batch
    except json.JSONDecodeError as exc:
        batch.problem(f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
        return batch
    except RecursionError:
        batch.problem("invalid JSON (nested too deeply)")
        return batch
    except ValueError as exc:
        batch.problem(json_value_reason(exc))
        return batch
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_VERSION):
        batch.problem(f"not a JSON Feed (no version {JSON_FEED_VERSION}.1)")
        return batch
    items = doc.get("items")
    if not isinstance(items, list):
        batch.problem("not a JSON Feed (items is not a list)")
        return batch
    raw_title = doc.get("title")
    title = clean_text(raw_title) if isinstance(raw_title, str) else ""
    link = doc.get("home_page_url")
    source = _source_name(title, link if isinstance(link, str) else "", origin)
    info = FeedInfo(origin, source, _default_score(content, source))
    for number, entry in enumerate(items, start=1):
        try:
            item = _json_entry(info, entry, base_url)
        except EntryError as exc:
            batch.problem(f"entry {number}: {exc}")
            continue
        _keep(batch, registry, number, item)
    return batch
