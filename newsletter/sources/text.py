"""Plain text from the HTML that feeds carry: tags dropped, entities decoded, spaces tidied."""

from __future__ import annotations

import html
import re

import nh3

_BREAKS = re.compile(r"<\s*(?:br|/?p|/?div|/?li|/?h[1-6]|/?tr|/?blockquote)\b[^>]*>", re.I)
_SPACES = re.compile(r"\s+")
ELLIPSIS = "…"


def html_to_text(value: str) -> str:
    """Strip every tag (script and style content too) and decode entities to plain text."""
    if "<" not in value and "&" not in value:
        return _SPACES.sub(" ", value).strip()
    spaced = _BREAKS.sub(" ", value)
    cleaned = nh3.clean(spaced, tags=set(), attributes={}, strip_comments=True)
    return _SPACES.sub(" ", html.unescape(cleaned)).strip()


def truncate(value: str, limit: int) -> str:
    """Cut ``value`` to at most ``limit`` characters, at a word boundary, ending in an ellipsis."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS
