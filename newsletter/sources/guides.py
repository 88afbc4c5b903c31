"""Guides from Markdown files with a YAML front matter block (FORMAT.md).

The file must start with a ``---`` line; the front matter ends at the next ``---`` line.
Front matter keys the Guide model does not know are ignored (a site may add its own);
numbers YAML typed by accident in text fields (``topics: [2026, AI]``) become text.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from newsletter.models import Guide, Problem
from newsletter.sources.common import display_path
from newsletter.sources.reasons import describe
from newsletter.sources.text import clean_text

_FIELDS = frozenset(Guide.model_fields) - {"body"}
# libyaml's safe loader parses front matter about ten times faster than the pure-Python one
# (2,000 guides: ~0.2 s instead of ~1.7 s); both build only plain data.
_SafeLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_TEXT_FIELDS = ("title", "tldr")
_LIST_FIELDS = ("topics", "takeaways")


class GuideError(ValueError):
    """A guide is rejected; ``line`` points into the file when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.line = line


@dataclass
class GuideBatch:
    """The guides one folder gave, by file name, and every file rejected."""

    guides: list[Guide] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def split_front_matter(text: str) -> tuple[str, str]:
    """Split a guide into its YAML front matter and its Markdown body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise GuideError("no front matter: the file must start with a '---' line")
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    raise GuideError("front matter is not closed: no second '---' line")


def _as_text(value: Any) -> Any:
    """Numbers typed by accident become text; text is cleaned (YAML escapes such as ``"\\a"``
    or ``"\\ud800"`` put control characters and lone surrogates in it)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return clean_text(value) if isinstance(value, str) else value


def _normalise(meta: dict[str, Any]) -> dict[str, Any]:
    data = {key: value for key, value in meta.items() if key in _FIELDS}
    for key in _TEXT_FIELDS:
        if key in data:
            data[key] = "" if data[key] is None and key == "tldr" else _as_text(data[key])
    if isinstance(data.get("level"), str):  # "beginner" and "BEGINNER" mean Beginner
        data["level"] = data["level"].strip().capitalize()
    for key in _LIST_FIELDS:
        if data.get(key, ()) is None:
            data[key] = ()
        elif isinstance(data.get(key), list):
            data[key] = [_as_text(v) for v in data[key]]
    return data


def parse_guide(text: str, stem: str) -> Guide:
    """Parse one guide's text; ``stem`` is its file name without ``.md``. Raise GuideError."""
    front, body = split_front_matter(text.removeprefix("\ufeff"))
    try:
        meta = yaml.load(front, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        # The context mark (where a quoted value began) locates the mistake better than the
        # problem mark (often the end of the block).
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        what = f"{context}: {problem}" if context else problem
        line = mark.line + 2 if mark is not None else None
        position = getattr(exc, "position", None)  # a ReaderError (a control character) has no mark
        if line is None and isinstance(position, int):
            line = front[:position].count("\n") + 2
        raise GuideError(f"invalid YAML in front matter: {what}", line) from None
    except RecursionError:
        raise GuideError("invalid YAML in front matter: nested too deeply") from None
    except ValueError as exc:  # a constructor's error, e.g. the date 2026-13-45
        raise GuideError(f"invalid value in front matter: {exc}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        kind = "a list" if isinstance(meta, list) else f"{type(meta).__name__}"
        raise GuideError(f"front matter must be 'key: value' lines (got {kind})", 2)
    try:
        guide = Guide.model_validate({**_normalise(meta), "body": clean_text(body, multiline=True)})
    except ValidationError as exc:
        raise GuideError(describe(exc)) from None
    if guide.slug != stem:
        raise GuideError(f"slug {guide.slug!r} must equal the file name without .md ({stem!r})")
    return guide


def load_guide(path: Path) -> Guide:
    """Read and validate one guide file. Raise GuideError (with a reason) if it is bad."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GuideError("file not found") from None
    except OSError as exc:
        raise GuideError(f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise GuideError(reason) from None
    return parse_guide(text, path.stem)


def load_guides(folder: Path) -> GuideBatch:
    """Load ``folder/*.md`` in file-name order; a bad or duplicate guide is reported, skipped."""
    batch = GuideBatch()
    if not folder.is_dir():
        reason = "guides folder not found" if not folder.exists() else "is not a folder"
        batch.problems.append(Problem(path=display_path(folder), reason=reason))
        return batch
    seen: dict[str, Path] = {}
    # display_path (a getcwd and a relative_to) only for the messages: it is a tenth of the
    # cost of loading 2,000 well-formed guides otherwise.
    for path in sorted(folder.glob("*.md")):
        try:
            guide = load_guide(path)
        except GuideError as exc:
            batch.problems.append(Problem(path=display_path(path), line=exc.line, reason=str(exc)))
            continue
        if guide.slug in seen:
            first = display_path(seen[guide.slug])
            reason = f"duplicate slug {guide.slug!r}: {first} already defines it"
            batch.problems.append(Problem(path=display_path(path), reason=reason))
            continue
        seen[guide.slug] = path
        batch.guides.append(guide)
    return batch


GUIDES_CACHE_VERSION = "guides-1"
"""Change when parsing changes: older cached folders are then parsed again."""


def load_guides_cached(folder: Path, cache_dir: Path | None) -> GuideBatch:
    """:func:`load_guides`, kept in ``cache_dir`` while no guide file changed.

    Parsing 2,000 guides' YAML takes about 0.3 s; the folder's listing (names, sizes,
    modification times) and the working folder (problems name paths relative to it) are the
    key, so editing, adding or removing any guide parses the folder again. A cache that
    cannot be read or written only costs the parse.
    """
    if cache_dir is None or not folder.is_dir():
        return load_guides(folder)
    h = hashlib.sha256(f"{GUIDES_CACHE_VERSION}\0{folder.resolve()}\0{os.getcwd()}".encode())
    for path in sorted(folder.glob("*.md")):
        try:
            st = path.stat()
        except OSError:
            return load_guides(folder)
        h.update(f"\0{path.name}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogatepass"))
    cached = cache_dir / f"parsed-guides-{h.hexdigest()[:24]}.pickle"
    try:
        with cached.open("rb") as fh:
            found = pickle.load(fh)
        if isinstance(found, GuideBatch):
            return found
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    batch = load_guides(folder)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, cached)
        old = sorted(cache_dir.glob("parsed-guides-*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-4]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
    return batch
