"""Subject line and preheader from the top stories: deterministic, bounded, never mid-word."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

SUBJECT_MAX = 70
PREHEADER_MIN = 40
PREHEADER_MAX = 130
_ELLIPSIS = "…"


def _joins_previous(ch: str) -> bool:
    """True for characters that must stay with the one before (marks, ZWJ, selectors)."""
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me", "Sk")
        or ch in "\u200d\ufe0e\ufe0f"
        or 0x1F3FB <= ord(ch) <= 0x1F3FF
        or 0xE0020 <= ord(ch) <= 0xE007F
    )


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits, else cut at the last word boundary with an ellipsis (≤ ``limit``).

    Text without spaces (e.g. Japanese) is cut between characters, never inside a combined
    character or emoji sequence.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(_ELLIPSIS)
    if room <= 0:
        return ""
    cut = text.rfind(" ", 0, room + 1)
    if cut >= room // 2:
        head = text[:cut]
    else:
        head = text[:room]
        while head and (_joins_previous(text[len(head)]) or text[len(head) - 1] == "\u200d"):
            head = head[:-1]
    head = head.rstrip(" ,;:–—-·")
    return head + _ELLIPSIS if head else ""


def make_subject(titles: Sequence[str], fallback: str) -> str:
    """Top title, plus the second when both fit: "A, plus B"; ≤ 70 characters."""
    if not titles:
        return shorten(fallback, SUBJECT_MAX)
    first = " ".join(titles[0].split())
    if len(titles) > 1:
        second = " ".join(titles[1].split())
        combined = f"{first}, plus {second}"
        if len(combined) <= SUBJECT_MAX:
            return combined
    return shorten(first, SUBJECT_MAX) or shorten(fallback, SUBJECT_MAX)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def make_preheader(titles: Sequence[str], n_guides: int, edition_title: str, site: str) -> str:
    """ "Also: B · C · N stories and M guides this week"; between 40 and 130 characters."""
    stories = _plural(len(titles), "story", "stories")
    guides = _plural(n_guides, "guide", "guides")
    count = f"{stories} and {guides} in this {edition_title} issue"
    parts = [count]
    others = [" ".join(t.split()) for t in titles[1:3]]
    if others:
        room = PREHEADER_MAX - len(count) - len("Also:  · ")
        picked: list[str] = []
        for title in others:
            sep = 3 if picked else 0
            if len(title) + sep <= room:
                picked.append(title)
                room -= len(title) + sep
            elif not picked and room > 20:
                picked.append(shorten(title, room))
                break
        if picked:
            parts = [f"Also: {' · '.join(picked)}", count]
    text = " · ".join(parts)
    if len(text) < PREHEADER_MIN:
        text = f"{text} · from {site}"
    if len(text) < PREHEADER_MIN:
        text = f"{text}: the week in AI, with explainers"
    return shorten(text, PREHEADER_MAX)
