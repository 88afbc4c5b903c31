"""Load news and guides into a Catalog, reporting (never raising on) bad input."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from newsletter.config import Settings
from newsletter.models import Catalog, Guide, NewsItem, Problem


@dataclass
class LoadResult:
    """What loading produced: the catalog, and every input it rejected."""

    catalog: Catalog
    problems: list[Problem] = field(default_factory=list)


def _reason(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err.get("loc", ()))
    if err.get("type") == "missing":
        return f"missing required field: {key}"
    return f"{key}: {err.get('msg')}"


def load_jsonl(path: Path, seen: dict[str, str]) -> tuple[list[NewsItem], list[Problem]]:
    """Read news items from a JSON Lines file; ``seen`` maps ids already loaded to where."""
    items: list[NewsItem] = []
    problems: list[Problem] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(
                    Problem(path=str(path), line=number, reason=f"invalid JSON ({exc.msg})")
                )
                continue
            if not isinstance(data, dict):
                problems.append(Problem(path=str(path), line=number, reason="not a JSON object"))
                continue
            try:
                item = NewsItem.model_validate(data)
            except ValidationError as exc:
                problems.append(Problem(path=str(path), line=number, reason=_reason(exc)))
                continue
            if item.id in seen:
                problems.append(
                    Problem(
                        path=str(path),
                        line=number,
                        reason=f"duplicate id {item.id!r}: {seen[item.id]} already defines it",
                    )
                )
                continue
            seen[item.id] = f"{path.name} line {number}"
            items.append(item)
    return items, problems


def load_guide(path: Path) -> Guide:
    """Read one guide: YAML front matter between ``---`` lines, then the Markdown body."""
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---", 2)
    meta = yaml.safe_load(front) or {}
    return Guide.model_validate({**meta, "body": body.strip()})


def load_guides(folder: Path) -> tuple[list[Guide], list[Problem]]:
    guides: list[Guide] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.md")):
        try:
            guides.append(load_guide(path))
        except (ValueError, ValidationError, yaml.YAMLError) as exc:
            problems.append(Problem(path=str(path), reason=str(exc).splitlines()[0]))
    return guides, problems


def load_content(cfg: Settings, content_dir: Path | None = None) -> LoadResult:
    """Load the configured content, or ``DIR/*.jsonl`` and ``DIR/guides/*.md`` if given."""
    if content_dir is not None:
        news_paths = sorted(content_dir.glob("*.jsonl"))
        guides_dir = content_dir / "guides"
    else:
        news_paths = [
            Path(p) for spec in cfg.content.news for p in sorted(glob.glob(str(cfg.path(spec))))
        ]
        guides_dir = cfg.path(cfg.content.guides)
    seen: dict[str, str] = {}
    news: list[NewsItem] = []
    problems: list[Problem] = []
    for path in news_paths:
        items, bad = load_jsonl(path, seen)
        news.extend(items)
        problems.extend(bad)
    guides, bad = load_guides(guides_dir)
    problems.extend(bad)
    return LoadResult(Catalog(news=tuple(news), guides=tuple(guides)), problems)
