"""Shortening prose for the email at sentence boundaries (the web page keeps every word)."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before
# whitespace and a capital, digit or opening quote. "U.S. officials" is not split: the next
# word must start a sentence and the period must not follow a single capital letter.
_BOUNDARY = re.compile(
    r"(?<![A-Z]\.[A-Z]\.)(?<!\b[A-Z]\.)(?<=[.!?])[\"'”’)\]]?\s+(?=[\"“‘(]?[A-Z0-9])"
)
_ELLIPSIS = "…"


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (whitespace collapsed)."""
    text = " ".join(text.split())
    if not text:
        return []
    parts: list[str] = []
    pos = 0
    for m in _BOUNDARY.finditer(text):
        parts.append(text[pos : m.start()] + m.group(0).strip())
        pos = m.end()
    parts.append(text[pos:])
    return [p.strip() for p in parts if p.strip()]


def cap_at_sentence(text: str, limit: int) -> tuple[str, bool]:
    """The longest run of whole leading sentences within ``limit`` characters.

    Returns ``(text, shortened)``. When even the first sentence is longer than ``limit`` it
    is cut at the last word boundary with an ellipsis, so the email never grows unbounded.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text, False
    kept = ""
    for sentence in sentences(text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept, True
    room = limit - len(_ELLIPSIS)
    # Prefer the end of a clause (a comma, semicolon or dash) to the end of a word.
    clause = max(text.rfind(sep, 0, room + 1) for sep in (", ", "; ", " – ", " — "))
    cut = clause if clause >= room // 2 else text.rfind(" ", 0, room + 1)
    head = text[: cut if cut > 0 else room].rstrip(" ,;:–—-")
    return head + _ELLIPSIS, True


def first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of ``text``, capped at ``limit`` characters like :func:`cap_at_sentence`."""
    found = sentences(text)
    return cap_at_sentence(found[0], limit)[0] if found else ""
