"""The editor's note: a small, safe Markdown subset parsed into plain segments.

Supported: paragraphs (blank lines), ``- `` bullet lines, ``**bold**``, ``*italic*`` or
``_italic_``, `` `code` `` and ``[text](https://…)`` links. Nothing else is interpreted and no
markup is ever produced here: the templates print each segment autoescaped (HTML) or as is
(text), so a note can not inject HTML. A link whose URL is not http(s) keeps its text only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

SegmentKind = Literal["text", "strong", "em", "code", "link"]

# One alternation, tried left to right: link, code, bold, italic (* or _).
_INLINE = re.compile(
    r"\[(?P<ltext>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
    r"|`(?P<code>[^`\n]+)`"
    r"|\*\*(?P<strong>[^*\n]+)\*\*"
    r"|\*(?P<em>[^*\n]+)\*"
    r"|(?<!\w)_(?P<em2>[^_\n]+)_(?!\w)"
)
_BULLET = re.compile(r"^\s*[-*]\s+")


@dataclass(frozen=True)
class Segment:
    """A run of text with one style; ``url`` only for links."""

    kind: SegmentKind
    text: str
    url: str | None = None


@dataclass(frozen=True)
class Block:
    """A paragraph, or one bullet of a list (``bullet`` true)."""

    segments: tuple[Segment, ...]
    bullet: bool = False

    @property
    def plain(self) -> str:
        """The block as plain text: links as ``text (url)``."""
        return "".join(
            f"{s.text} ({s.url})" if s.kind == "link" and s.url else s.text for s in self.segments
        )


def _inline(text: str, link: Callable[[str], str | None]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            out.append(Segment("text", text[pos : m.start()]))
        if m.group("ltext") is not None:
            url = link(m.group("url"))
            out.append(Segment("link", m.group("ltext"), url) if url else Segment("text", m[1]))
        elif m.group("code") is not None:
            out.append(Segment("code", m.group("code")))
        elif m.group("strong") is not None:
            out.append(Segment("strong", m.group("strong")))
        else:
            out.append(Segment("em", m.group("em") or m.group("em2")))
        pos = m.end()
    if pos < len(text):
        out.append(Segment("text", text[pos:]))
    return tuple(out)


def parse_note(note: str | None, link: Callable[[str], str | None]) -> tuple[Block, ...]:
    """Parse the editor's Markdown note; ``link`` vets (and tags) each URL or returns None."""
    if not note or not note.strip():
        return ()
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block(_inline(" ".join(paragraph), link)))
            paragraph.clear()

    for raw in note.replace("\r\n", "\n").split("\n"):
        line = " ".join(raw.split())
        if not line:
            flush()
        elif _BULLET.match(raw):
            flush()
            item = " ".join(_BULLET.sub("", raw).split())
            blocks.append(Block(_inline(item, link), bullet=True))
        else:
            paragraph.append(line)
    flush()
    return tuple(blocks)
