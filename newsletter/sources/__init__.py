"""Content sources: news (JSON Lines, RSS/Atom/JSON Feed) and guides (Markdown) into a Catalog.

Bad input never raises: every rejected file, line or entry becomes a Problem and the rest loads.
"""

from newsletter.sources.catalog import LoadResult, SourceSummary, load_content, load_news_source
from newsletter.sources.common import IdRegistry, NewsBatch
from newsletter.sources.feeds import ALMANAC_NS, entry_slug, parse_json_feed, parse_xml_feed
from newsletter.sources.guides import GuideBatch, GuideError, load_guide, load_guides, parse_guide
from newsletter.sources.jsonl import load_jsonl, parse_line, read_lines

__all__ = [
    "ALMANAC_NS",
    "GuideBatch",
    "GuideError",
    "IdRegistry",
    "LoadResult",
    "NewsBatch",
    "SourceSummary",
    "entry_slug",
    "load_content",
    "load_guide",
    "load_guides",
    "load_jsonl",
    "load_news_source",
    "parse_guide",
    "parse_json_feed",
    "parse_line",
    "parse_xml_feed",
    "read_lines",
]
