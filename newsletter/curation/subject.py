"""Subject line and preheader from the top stories: in our voice, bounded, never mid-phrase."""

from __future__ import annotations

import re
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


_FIRST_PERSON = re.compile(
    r"\b(?:our|ours|we|we're|we've|we'll|we'd|us|introducing|announcing|meet)\b", re.IGNORECASE
)
_LEADING_WE = (
    (re.compile(r"^we(?:'re| are)\b", re.IGNORECASE), "{maker} is"),
    (re.compile(r"^we(?:'ve| have)\b", re.IGNORECASE), "{maker} has"),
    (re.compile(r"^we(?:'ll| will)\b", re.IGNORECASE), "{maker} will"),
)
_LAUNCH = re.compile(r"^(introducing|announcing|meet)\s+(.+)$", re.IGNORECASE)
_LAUNCH_VERB = {"introducing": "introduces", "announcing": "announces", "meet": "introduces"}
_MAKER_SUFFIX = re.compile(r"\s+(?:ai\s+)?(?:blog|newsroom|news|press|press room)$", re.IGNORECASE)
# Where a headline can end early and still read whole: before its subtitle.
_PHRASE_BREAKS = (": ", " — ", " – ", " - ", " | ")


def reads_as_ours(title: str) -> bool:
    """True for a first-person headline ("our", "we", "introducing"): the maker's voice."""
    return bool(_FIRST_PERSON.search(title))


def maker_name(source: str) -> str:
    """The organisation behind a first-party source: "Google DeepMind Blog" → "Google DeepMind"."""
    return _MAKER_SUFFIX.sub("", " ".join(source.split())).strip()


def attribute(title: str, maker: str) -> str:
    """A first-person headline rephrased in our voice, naming its maker.

    "Introducing X" → "Maker introduces X"; "X: our most capable model yet" → "Maker's X:
    its most capable model yet"; "We're doing X" → "Maker is doing X"; anything else is quoted
    as the maker's words: 'Maker: “…”'.
    """
    text = " ".join(title.split())
    if not reads_as_ours(text) or not maker:
        return text
    launch = _LAUNCH.match(text)
    if launch and not reads_as_ours(launch.group(2)):
        return f"{maker} {_LAUNCH_VERB[launch.group(1).lower()]} {launch.group(2)}"
    head, sep, tail = text.partition(": ")
    if sep and not reads_as_ours(head):
        tail = re.sub(r"\bour\b", "its", tail, flags=re.IGNORECASE)
        owner = f"{maker}'" if maker.endswith("s") else f"{maker}'s"
        if head.lower().startswith(maker.lower()):
            owner, head = head, ""
        if not reads_as_ours(tail):
            return f"{owner} {head}".strip() + f": {tail}"
    for pattern, repl in _LEADING_WE:
        if pattern.match(text):
            rest = pattern.sub(repl.format(maker=maker), text, count=1)
            rest = re.sub(r"\bour\b", "its", rest, flags=re.IGNORECASE)
            if not reads_as_ours(rest):
                return rest
    return f"{maker}: “{text}”"


def _phrasings(title: str) -> list[str]:
    """The headline, then its shorter whole-phrase forms (before a subtitle), longest first."""
    out = [title]
    for sep in _PHRASE_BREAKS:
        cut = title.find(sep)
        if cut >= 12:
            head = title[:cut].rstrip()
            if head not in out:
                out.append(head)
    return sorted(set(out), key=lambda t: (-len(t), t)) if len(out) > 1 else out


def _in_our_voice(titles: Sequence[str], sources: Sequence[str]) -> list[str]:
    """Each headline as the subject may use it; first-person ones without a maker are dropped."""
    out = []
    for i, raw in enumerate(titles):
        title = " ".join(raw.split())
        if not title:
            continue
        if reads_as_ours(title):
            maker = maker_name(sources[i]) if i < len(sources) else ""
            title = attribute(title, maker) if maker else _without_claim(title)
            if not title:
                continue
        out.append(title)
    return out


def _without_claim(title: str) -> str:
    """A first-person headline without its claim when no maker is known: "Introducing X" →
    "X"; "X: our best model yet" → "X"; "" when nothing neutral is left."""
    launch = _LAUNCH.match(title)
    if launch and not reads_as_ours(launch.group(2)):
        return launch.group(2)
    head, sep, _ = title.partition(": ")
    return head if sep and not reads_as_ours(head) else ""


def make_subject(titles: Sequence[str], fallback: str, sources: Sequence[str] = ()) -> str:
    """The subject from the top stories, in our voice, never cut mid-phrase; ≤ 70 characters.

    ``sources`` (the stories' sources, same order) name the maker of a first-person headline
    ("our", "we", "introducing"): "Gemini 3.5: our most capable model yet" from "Google DeepMind
    Blog" becomes "Google DeepMind's Gemini 3.5: its most capable model yet". Without a source
    such a headline keeps only its neutral part ("Gemini 3.5"), or is skipped. "A, plus B"
    when both fit; else the top headline, else its part before the subtitle, else the next
    story that fits; else ``fallback``.
    """
    usable = _in_our_voice(titles, sources)
    if len(usable) > 1:
        combined = f"{usable[0]}, plus {usable[1]}"
        if len(combined) <= SUBJECT_MAX:
            return combined
    for title in usable:
        for phrase in _phrasings(title):
            if len(phrase) <= SUBJECT_MAX:
                return phrase
    return shorten(fallback, SUBJECT_MAX)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def make_preheader(
    titles: Sequence[str],
    n_guides: int,
    edition_title: str,
    site: str,
    sources: Sequence[str] = (),
) -> str:
    """ "Also: B · C · N stories and M guides this week"; between 40 and 130 characters.

    Headlines are in our voice (see :func:`make_subject`), never repeat the subject and are
    never cut: one that does not fit is left out.
    """
    stories = _plural(len(titles), "story", "stories")
    guides = _plural(n_guides, "guide", "guides")
    count = f"{stories} and {guides} in this {edition_title} issue"
    parts = [count]
    # The headlines the subject does not already carry (it may hold the first two).
    subject = make_subject(titles, "", sources)
    others = [t for t in _in_our_voice(titles[1:], sources[1:]) if t not in subject][:2]
    if others:
        room = PREHEADER_MAX - len(count) - len("Also:  · ")
        picked: list[str] = []
        for title in others:
            sep = 3 if picked else 0
            fitting = [p for p in _phrasings(title) if len(p) + sep <= room]
            if fitting:
                picked.append(fitting[0])
                room -= len(fitting[0]) + sep
        if picked:
            parts = [f"Also: {' · '.join(picked)}", count]
    text = " · ".join(parts)
    if len(text) < PREHEADER_MIN:
        text = f"{text} · from {site}"
    if len(text) < PREHEADER_MIN:
        text = f"{text}: the week in AI, with explainers"
    return shorten(text, PREHEADER_MAX)
