"""Content sources: news (JSON Lines, RSS/Atom/JSON Feed) and guides (Markdown) into a Catalog.

Bad input never raises: every rejected file, line or entry becomes a Problem and the rest loads.
Every text goes through one normalisation (``text.clean_text``); feeds are fetched with one
total deadline each, several at once (``fetch.fetch_all``).
"""

from newsletter.sources.catalog import LoadResult, SourceSummary, load_content, load_news_source
from newsletter.sources.common import IdRegistry, NewsBatch
from newsletter.sources.dates import DateError, parse_feed_date
from newsletter.sources.feeds import ALMANAC_NS, entry_slug, parse_json_feed, parse_xml_feed
from newsletter.sources.fetch import Fetched, FetchError, fetch_all, fetch_url
from newsletter.sources.guides import (
    GuideBatch,
    GuideError,
    load_guide,
    load_guides,
    load_guides_cached,
    parse_guide,
)
from newsletter.sources.jsonl import load_jsonl, parse_line, read_lines
from newsletter.sources.text import clean_text, derive_title, html_to_text
from newsletter.sources.xmlprep import PreparedXml, prepare_xml

__all__ = [
    "ALMANAC_NS",
    "DateError",
    "FetchError",
    "Fetched",
    "GuideBatch",
    "GuideError",
    "IdRegistry",
    "LoadResult",
    "NewsBatch",
    "PreparedXml",
    "SourceSummary",
    "clean_text",
    "derive_title",
    "entry_slug",
    "fetch_all",
    "fetch_url",
    "html_to_text",
    "load_content",
    "load_guide",
    "load_guides",
    "load_guides_cached",
    "load_jsonl",
    "load_news_source",
    "parse_feed_date",
    "parse_guide",
    "parse_json_feed",
    "parse_line",
    "parse_xml_feed",
    "prepare_xml",
    "read_lines",
]
