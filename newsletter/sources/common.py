"""What every loader shares: where an input came from, the id registry, a loader's result."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from newsletter.models import NewsItem, Problem
from newsletter.sources.text import clean_text


def is_url(spec: str) -> bool:
    """True for an http(s) URL (a feed to fetch), false for a path or a glob."""
    return spec[:8].lower().startswith(("http://", "https://"))


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?://|/)")


def other_scheme(spec: str) -> str | None:
    """The scheme of a URL that is not http(s) (``ftp``, ``file``), lower-cased; else None.

    A Windows drive letter (``C:/feeds``) is a path, not a scheme.
    """
    match = _SCHEME.match(spec)
    if match is None or len(match.group(1)) == 1:
        return None
    scheme = match.group(1).lower()
    return None if scheme in ("http", "https") else scheme


def display_url(url: str) -> str:
    """The URL for messages, with any ``user:password@`` removed."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a broken IPv6 host: drop everything up to the last "@" of the host
        scheme, _, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def display_path(path: Path) -> str:
    """A path for messages: relative to the working folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def one_line(reason: str) -> str:
    """A message as one line of printable text (no newline, control character, surrogate)."""
    return clean_text(reason) or "invalid input"


class IdRegistry:
    """The news ids loaded so far and where each was defined: the first definition wins."""

    def __init__(self) -> None:
        self._where: dict[str, tuple[str, str, int]] = {}

    def claim(self, item_id: str, origin: str, number: int, unit: str = "line") -> str | None:
        """Register ``item_id`` as defined at ``origin`` (line or entry ``number``).

        Return None if it is new, else where it was first defined (``news.jsonl line 1``).
        """
        earlier = self._where.get(item_id)
        if earlier is None:
            self._where[item_id] = (origin, unit, number)
            return None
        return f"{earlier[0]} {earlier[1]} {earlier[2]}"

    def __len__(self) -> int:
        return len(self._where)


def duplicate_reason(item_id: str, earlier: str) -> str:
    return f"duplicate id {item_id!r}: {earlier} already defines it"


@dataclass
class NewsBatch:
    """The news one source gave: the items kept, in order, and every input rejected."""

    origin: str
    kind: str
    items: list[NewsItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, reason: str, line: int | None = None) -> None:
        """Record a rejected input; the reason is made one line of clean text."""
        self.problems.append(Problem(path=self.origin, line=line, reason=one_line(reason)))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that all stay alive.

    Loading 100k items otherwise triggers repeated full collections that find nothing to
    free (about a third of the load time). Validation creates no reference cycles.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
