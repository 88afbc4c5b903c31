"""The one text normalisation every loader uses (JSON Lines, RSS/Atom, JSON Feed, guides).

Text from outside may carry characters no later stage can take: lone surrogates (legal in
JSON as ``"\\ud800"``, but not encodable as UTF-8: writing issue.json fails), C0/C1 control
characters (NUL, BEL, ESC... invalid in XML, so MJML refuses the whole issue, and raw in a
terminal they are escape sequences) and the XML non-characters U+FFFE/U+FFFF. ``clean_text``
removes them; one-line fields (titles, sources, topics, summaries) also get every run of
whitespace (tabs, newlines, NBSP, a literal ``&nbsp;``) collapsed to one space.
"""

from __future__ import annotations

import html
import re

import nh3

# Control characters other than tab/newline/CR, DEL, C1 controls, lone surrogates and the two
# non-characters XML forbids. (A well-formed surrogate pair is one code point in a str.)
_UNWANTED = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
# VT, FF, NEL: whitespace to a reader, so a space rather than nothing.
_ODD_SPACE = re.compile("[\x0b\x0c\x85]")
_LITERAL_NBSP = re.compile(r"&(?:nbsp|#160|#[xX]0*[aA]0);")
_SPACES = re.compile(r"\s+")
# Block-level and line-breaking tags: their boundaries separate words ("<td>a</td><td>b</td>"
# is "a b", not "ab"). nh3 drops the tags without leaving a space.
_BLOCK_TAGS = (
    "address|article|aside|blockquote|br|caption|dd|details|dialog|div|dl|dt|fieldset|"
    "figcaption|figure|footer|form|h[1-6]|header|hr|li|main|nav|ol|p|pre|section|summary|"
    "table|tbody|td|tfoot|th|thead|tr|ul"
)
_BREAKS = re.compile(rf"<\s*/?\s*(?:{_BLOCK_TAGS})\b[^>]*>", re.I)
ELLIPSIS = "…"
DERIVED_TITLE_LIMIT = 120


def unwanted_characters(value: str) -> list[str]:
    """The distinct characters ``clean_text`` would remove, as ``U+XXXX`` names (for reasons)."""
    return sorted({f"U+{ord(c):04X}" for c in _UNWANTED.findall(value)})


def clean_text(value: str, *, multiline: bool = False) -> str:
    """``value`` without control characters, lone surrogates and U+FFFE/U+FFFF.

    One-line text (the default) also has all whitespace collapsed and a literal ``&nbsp;``
    read as a space; ``multiline`` text (a guide's Markdown body) keeps its lines.
    """
    if (
        value.isprintable()
        and "  " not in value
        and value == value.strip()
        and ("&" not in value or _LITERAL_NBSP.search(value) is None)
    ):
        return value  # the common case: no control, format or odd space character at all
    value = _UNWANTED.sub("", value)
    if multiline:
        return _ODD_SPACE.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if "&" in value:
        value = _LITERAL_NBSP.sub(" ", value)
    return _SPACES.sub(" ", value).strip()


def html_to_text(value: str) -> str:
    """Plain one-line text from HTML: tags dropped (script and style with their content),
    entities decoded, block boundaries kept as spaces, then ``clean_text``."""
    if "<" not in value and "&" not in value:
        return clean_text(value)
    spaced = _BREAKS.sub(" ", value)
    # Removed before parsing: html5ever keeps a NUL as U+FFFD, and a control character in a
    # tag name would hide the tag.
    cleaned = nh3.clean(_UNWANTED.sub("", spaced), tags=set(), attributes={}, strip_comments=True)
    return clean_text(html.unescape(cleaned))


def truncate(value: str, limit: int) -> str:
    """Cut ``value`` to at most ``limit`` characters, at a word boundary, ending in an ellipsis."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s")


def derive_title(text: str, limit: int = DERIVED_TITLE_LIMIT) -> str:
    """A title for an item that has none (JSON Feed 1.1, Mastodon-style RSS): its first
    sentence, or the start of its text cut at a word, at most ``limit`` characters."""
    text = clean_text(text)
    end = _SENTENCE_END.search(text)
    first = text[: end.start()] if end and end.start() <= limit else text
    return truncate(first, limit)
