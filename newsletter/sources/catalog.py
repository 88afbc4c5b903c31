"""Load every configured news source and the guides into one Catalog, reporting bad input.

``content.news`` entries are paths, globs (relative to the config file) or http(s) feed URLs.
With a content folder instead: ``DIR/news.jsonl`` first, then the other ``DIR/*.jsonl``, then
feeds ``DIR/*.xml|*.rss|*.atom|*.json``, and guides from ``DIR/guides/*.md``.
Ids are unique across all sources: the first definition wins, later ones are reported.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.config import ContentConfig, Settings
from newsletter.models import Catalog, NewsItem, Problem
from newsletter.sources.common import (
    IdRegistry,
    NewsBatch,
    display_path,
    display_url,
    is_url,
    other_scheme,
)
from newsletter.sources.feeds import parse_json_feed, parse_xml_feed
from newsletter.sources.fetch import Fetched, FetchError, FetchOutcome, fetch_all, fetch_url
from newsletter.sources.formats import SUFFIXES, Format, format_from_name, sniff, sniff_content
from newsletter.sources.guides import load_guides_cached
from newsletter.sources.jsonl import load_jsonl, read_lines

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class SourceSummary:
    """One news source as loaded: where, which format, how many items and problems."""

    origin: str
    kind: str
    items: int
    problems: int


@dataclass
class LoadResult:
    """What loading produced: the catalog, and every input it rejected."""

    catalog: Catalog
    problems: list[Problem] = field(default_factory=list)
    sources: list[SourceSummary] = field(default_factory=list)


Spec = str | Path
"""A news source: a Path to a file, or an http(s) URL."""


def configured_sources(cfg: Settings) -> tuple[list[Spec], list[Problem]]:
    """Expand ``content.news`` (paths, globs, URLs) in order, each file once."""
    specs: list[Spec] = []
    problems: list[Problem] = []
    for entry in cfg.content.news:
        if is_url(entry):
            specs.append(entry)
        elif (scheme := other_scheme(entry)) is not None:
            # Without this, "ftp://host/feed.xml" was looked for as a file and "not found".
            reason = (
                "file: URLs are not read: give the path instead"
                if scheme == "file"
                else f"only http and https feed URLs are fetched (got {scheme}:)"
            )
            problems.append(Problem(path=entry, reason=reason))
        elif _GLOB_CHARS & set(entry):
            matches = sorted(glob.glob(str(cfg.path(entry)), recursive=True))
            if not matches:
                problems.append(Problem(path=entry, reason="no files match this pattern"))
            specs.extend(Path(m) for m in matches)
        else:
            specs.append(cfg.path(entry))
    unique = list(dict.fromkeys(specs))
    return unique, problems


NOT_NEWS = frozenset({"labels.json"})


def folder_sources(folder: Path) -> list[Path]:
    """The news files of a content folder: news.jsonl first, other JSON Lines, then feeds.

    ``labels.json`` is an editor's labels for curation (a labelled set), not a feed.
    """
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in SUFFIXES and p.is_file() and p.name not in NOT_NEWS
    ]

    def order(path: Path) -> tuple[int, str]:
        rank = (
            0 if path.name == "news.jsonl" else 1 if SUFFIXES[path.suffix.lower()] == "jsonl" else 2
        )
        return rank, path.name

    return sorted(files, key=order)


def _parse(
    data: bytes,
    fmt: Format,
    origin: str,
    content: ContentConfig,
    registry: IdRegistry,
    base_url: str | None = None,
    charset: str | None = None,
) -> NewsBatch:
    if fmt == "jsonl":
        # Split on "\n" only, as reading a file does, so line numbers agree.
        return read_lines(data.split(b"\n"), origin, registry)
    if fmt == "jsonfeed":
        return parse_json_feed(data, origin, content, registry, base_url)
    return parse_xml_feed(data, origin, content, registry, base_url, charset)


def load_news_source(
    spec: Spec,
    content: ContentConfig,
    registry: IdRegistry,
    fetched: FetchOutcome | None = None,
) -> NewsBatch:
    """Load one news source (file or URL) in the format its name or content shows.

    For a URL, ``fetched`` is the outcome of fetching it already (``fetch_all``); without it
    the URL is fetched now.
    """
    if isinstance(spec, str):
        origin = display_url(spec)
        if fetched is None:
            try:
                fetched = fetch_url(spec, content.fetch_timeout, content.max_feed_bytes)
            except FetchError as exc:
                fetched = exc
        if isinstance(fetched, FetchError):
            batch = NewsBatch(origin=origin, kind="url")
            batch.problem(str(fetched))
            return batch
        return _parse_fetched(spec, fetched, origin, content, registry)
    fmt = format_from_name(spec.name)
    if fmt == "jsonl":
        return load_jsonl(spec, registry)
    origin = display_path(spec)
    try:
        data = spec.read_bytes()
    except FileNotFoundError:
        reason = "file not found"
    except IsADirectoryError:
        reason = "is a folder, not a file"
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
    else:
        fmt = fmt or sniff(data)
        if fmt is not None:
            return _parse(data, fmt, origin, content, registry)
        reason = "not a news format we read (expected .jsonl, .xml, .rss, .atom or .json)"
    batch = NewsBatch(origin=origin, kind="file")
    batch.problem(reason)
    return batch


def _parse_fetched(
    spec: str, fetched: Fetched, origin: str, content: ContentConfig, registry: IdRegistry
) -> NewsBatch:
    # The final URL (after redirects) names the format and resolves relative links.
    final = fetched.url or spec
    fmt = (
        sniff_content(fetched.body)
        or format_from_name(final)
        or format_from_name(spec)
        or sniff(b"", fetched.content_type)
    )
    if fmt is None:
        batch = NewsBatch(origin=origin, kind="url")
        batch.problem(f"not a news format we read (media type {fetched.content_type})")
        return batch
    return _parse(fetched.body, fmt, origin, content, registry, final, fetched.charset)


def load_content(cfg: Settings, content_dir: Path | None = None) -> LoadResult:
    """Load the configured content, or the news files and ``guides/`` of ``content_dir``.

    Never raises on bad content: every rejected file, line or entry is in ``problems``.
    """
    problems: list[Problem] = []
    specs: list[Spec]
    if content_dir is not None:
        if not content_dir.is_dir():
            where = display_path(content_dir)
            reason = "content folder not found" if not content_dir.exists() else "is not a folder"
            return LoadResult(Catalog(), [Problem(path=where, reason=reason)])
        specs = list(folder_sources(content_dir))
        guides_dir = content_dir / "guides"
    else:
        specs, problems = configured_sources(cfg)
        guides_dir = cfg.path(cfg.content.guides)
    registry = IdRegistry()
    news: list[NewsItem] = []
    sources: list[SourceSummary] = []
    urls = [spec for spec in specs if isinstance(spec, str)]
    fetched_all = fetch_all(urls, cfg.content.fetch_timeout, cfg.content.max_feed_bytes)
    outcomes = dict(zip(urls, fetched_all, strict=True))
    for spec in specs:
        fetched = outcomes.get(spec) if isinstance(spec, str) else None
        batch = load_news_source(spec, cfg.content, registry, fetched)
        news.extend(batch.items)
        problems.extend(batch.problems)
        sources.append(
            SourceSummary(batch.origin, batch.kind, len(batch.items), len(batch.problems))
        )
    guides = load_guides_cached(guides_dir, cfg.path(cfg.curation.cache_dir))
    problems.extend(guides.problems)
    catalog = Catalog(news=tuple(news), guides=tuple(guides.guides))
    return LoadResult(catalog, problems, sources)
