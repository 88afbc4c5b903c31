"""Which loader reads a document: by file extension, else media type, else its first bytes."""

from __future__ import annotations

import json
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
    try:
        path = urlsplit(name).path if "://" in name else name
    except ValueError:  # a broken IPv6 host; the fetch reports the URL
        return None
    dot = path.rfind(".")
    return SUFFIXES.get(path[dot:].lower()) if dot > path.rfind("/") else None


def _is_json_feed(body: bytes) -> bool:
    """One JSON object with a JSON Feed ``version``, wherever the key is (a feed written with
    sorted keys puts ``items`` first, so ``version`` can come megabytes in)."""
    if b"jsonfeed.org/version/" not in body:
        return False
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        # Not one JSON document. JSON Lines if its first line is a JSON value of its own;
        # else a broken JSON Feed, which the JSON Feed reader then reports where it breaks.
        first = body.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
        try:
            json.loads(first)
        except (ValueError, RecursionError):
            return True
        return False
    version = doc.get("version") if isinstance(doc, dict) else None
    return isinstance(version, str) and "jsonfeed.org/version/" in version


def sniff_content(body: bytes) -> Format | None:
    """The format a document's own bytes show: ``<`` is XML, ``{`` JSON Feed or JSON Lines."""
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or head.startswith((b"\xff\xfe<", b"\xfe\xff\x00<")):
        return "feed"
    if head.startswith(b"{"):
        return "jsonfeed" if _is_json_feed(body) else "jsonl"
    return None


def sniff(body: bytes, media_type: str = "") -> Format | None:
    """The format of a document by its content, else by its declared media type.

    Content decides first: servers often send feeds as ``text/html``, ``text/plain`` or
    ``application/octet-stream``, and JSON Feeds as ``application/json``.
    """
    return sniff_content(body) or _MEDIA.get(media_type.lower())
