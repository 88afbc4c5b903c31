"""The plain-text part: wrapping near 76 columns without ever breaking a URL."""

from __future__ import annotations

import re
import textwrap

WIDTH = 76
_BULLET = re.compile(r"^(\s*)([-*] )?")
_URL = re.compile(r"(?:https?://|%[a-z_]+_url%)[^\s<>\"']*")


def wrap_text(text: str, width: int = WIDTH) -> str:
    """Wrap each line to ``width`` columns, keeping indentation and hanging list bullets.

    Words are never split, so a URL longer than the width stays whole on its own line.
    Rule lines (``====``) and blank lines pass through; runs of blank lines collapse to one.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            if out and out[-1] != "":
                out.append("")
            continue
        if len(line) <= width:
            out.append(line)
            continue
        match = _BULLET.match(line)
        assert match is not None
        indent = match.group(1)
        hanging = indent + " " * len(match.group(2) or "")
        out.extend(
            textwrap.wrap(
                line,
                width=width,
                initial_indent="",
                subsequent_indent=hanging,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def text_urls(text: str) -> set[str]:
    """Every URL (or URL placeholder token) in a plain-text part."""
    return {m.group(0).rstrip(".,;:)") for m in _URL.finditer(text)}
