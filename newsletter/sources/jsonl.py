"""News items from JSON Lines: one object per line, validated per FORMAT.md.

Clean lines take a fast path (``NewsItem.model_validate_json`` on the raw bytes); a line
that fails it is parsed again step by step to find one human reason. Unknown extra fields
are ignored, not rejected, so a producer may add fields without breaking the newsletter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from newsletter.models import NewsItem
from newsletter.sources.common import (
    IdRegistry,
    NewsBatch,
    display_path,
    duplicate_reason,
    gc_paused,
)
from newsletter.sources.reasons import describe, json_value_reason
from newsletter.sources.text import clean_text, unwanted_characters

BOM = b"\xef\xbb\xbf"


_ESCAPES = (b"\\u", b"\\n", b"\\t", b"\\r", b"\\b", b"\\f")


def _maybe_unclean(raw: bytes) -> bool:
    """Whether a valid line may hold text to clean: a JSON escape (``\\u0007``, ``\\ud800``,
    ``\\n``), DEL, a C1 control / NEL / NBSP (UTF-8 lead byte 0xc2), an entity (``&nbsp;``) or
    a double space. Most lines have none and skip the work: a backslash or an ampersand is
    looked for first, and only then which escape or entity it starts (a quarter of the time
    of testing every one)."""
    if b"\\" in raw and any(e in raw for e in _ESCAPES):
        return True
    if b"&" in raw and (b"&nbsp;" in raw or b"&#160;" in raw):
        return True
    return b"\x7f" in raw or b"\xc2" in raw or b"  " in raw


_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _json_kind(value: Any) -> str:
    return "null" if value is None else _KINDS.get(type(value), type(value).__name__)


def _json_reason(exc: json.JSONDecodeError, text: str) -> str:
    body = text.strip()
    what = "object" if body.startswith("{") else "value"
    if exc.pos >= len(text.rstrip()):
        return f"invalid JSON (the {what} is cut off)"
    if exc.msg.startswith("Unterminated string"):
        return f"invalid JSON (the string at column {exc.colno} is never closed: the {what} is cut off)"
    if exc.msg == "Extra data":
        return f"invalid JSON (extra text after the {what} at column {exc.colno})"
    return f"invalid JSON ({exc.msg} at column {exc.colno})"


def diagnose_line(raw: bytes) -> NewsItem | str:
    """Validate one line slowly and explain what is wrong: a NewsItem, or the reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if (
            raw[exc.start : exc.start + 1] == b"\xed"
            and raw[exc.start + 1 : exc.start + 2] >= b"\xa0"
        ):
            # ED A0..BF starts a surrogate (U+D800..DFFF) encoded as if it were a character.
            return f"invalid UTF-8 (an encoded lone surrogate at column {exc.start + 1})"
        return f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return _json_reason(exc, text)
    except RecursionError:
        return "invalid JSON (nested too deeply)"
    except ValueError as exc:  # e.g. an integer with more digits than Python will parse
        return json_value_reason(exc)
    if not isinstance(data, dict):
        return f"the line is not a JSON object (it is {_json_kind(data)})"
    try:
        return clean_item(NewsItem.model_validate(data, extra="ignore"))
    except ValidationError as exc:
        return describe(exc)


def clean_item(item: NewsItem) -> NewsItem | str:
    """``item`` with its text through ``clean_text`` (the normalisation every format uses),
    or the reason it is rejected: a title or source of nothing but control characters."""
    title = clean_text(item.title)
    summary = clean_text(item.summary)
    source = clean_text(item.source)
    topics = tuple(clean_text(t) for t in item.topics)
    if (title, summary, source, topics) == (item.title, item.summary, item.source, item.topics):
        return item
    for name, before, after in (("title", item.title, title), ("source", item.source, source)):
        if not after:
            bad = ", ".join(unwanted_characters(before)) or "whitespace"
            return f"{name} has only control or invalid characters ({bad})"
    fields = {**dict(item), "title": title, "summary": summary, "source": source}
    return NewsItem.model_validate({**fields, "topics": topics})


def parse_line(raw: bytes) -> NewsItem | str:
    """One JSON Lines line (without its newline) as a NewsItem, or the reason it is rejected."""
    try:
        item = NewsItem.model_validate_json(raw, extra="ignore")
    except ValidationError:
        return diagnose_line(raw)
    if not _maybe_unclean(raw):
        return item
    try:
        return clean_item(item)
    except ValidationError as exc:
        return describe(exc)


def read_lines(
    lines: Iterable[bytes], origin: str, registry: IdRegistry | None = None
) -> NewsBatch:
    """Validate every line of a JSON Lines stream; blank lines are skipped, bad ones reported."""
    registry = IdRegistry() if registry is None else registry
    batch = NewsBatch(origin=origin, kind="jsonl")
    keep = batch.items.append
    claim = registry.claim
    try:
        with gc_paused():
            for number, raw in enumerate(lines, start=1):
                if raw.startswith(BOM):
                    raw = raw[3:]
                if not raw or raw.isspace():
                    continue
                result = parse_line(raw.rstrip(b"\r\n"))
                if isinstance(result, str):
                    batch.problem(result, number)
                    continue
                earlier = claim(result.id, origin, number)
                if earlier is not None:
                    batch.problem(duplicate_reason(result.id, earlier), number)
                    continue
                keep(result)
    except OSError as exc:
        batch.problem(f"reading stopped: {exc.strerror or exc}")
    return batch


def load_jsonl(path: Path, registry: IdRegistry | None = None) -> NewsBatch:
    """Read news items from a JSON Lines file; a missing or unreadable file is one problem."""
    origin = display_path(path)
    try:
        with path.open("rb") as fh:
            return read_lines(fh, origin, registry)
    except FileNotFoundError:
        reason = "file not found"
    except IsADirectoryError:
        reason = "is a folder, not a file"
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
    batch = NewsBatch(origin=origin, kind="jsonl")
    batch.problem(reason)
    return batch
