"""Which loader reads a document: by file extension, else media type, else its first bytes."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

Format = Literal["jsonl", "feed", "jsonfeed"]

SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xml": "feed",
    ".rss": "feed",
    ".atom": "feed",
    ".json": "jsonfeed",
}
_MEDIA: dict[str, Format] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
    "application/feed+json": "jsonfeed",
    "application/rss+xml": "feed",
    "application/atom+xml": "feed",
    "application/xml": "feed",
    "text/xml": "feed",
}


def format_from_name(name: str) -> Format | None:
    """The format a file name or URL path announces by its extension, if any."""
    path = urlsplit(name).path if "://" in name else name
    dot = path.rfind(".")
    return SUFFIXES.get(path[dot:].lower()) if dot > path.rfind("/") else None


def sniff(body: bytes, media_type: str = "") -> Format | None:
    """Guess the format from the declared media type, then from the first bytes."""
    declared = _MEDIA.get(media_type.lower())
    if declared is not None:
        return declared
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "feed"
    if head.startswith(b"{"):
        return "jsonfeed" if b"jsonfeed.org/version/" in head else "jsonl"
    return None
