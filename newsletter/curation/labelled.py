"""Labelled sets from folders, and the editors' corrections in the archive as another set."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from newsletter.archive import OVERRIDES_FILE, Archive
from newsletter.curation.labelled_set import LabelledSet, digest_files, read_labels
from newsletter.errors import InputError
from newsletter.models import Catalog
from newsletter.sources import load_guides, load_jsonl

LABELS_FILE = "labels.json"


def load_labelled(folder: Path) -> LabelledSet:
    """A folder with ``news.jsonl`` (and other ``*.jsonl``), ``guides/`` and ``labels.json``."""
    labels = folder / LABELS_FILE
    if not labels.is_file():
        raise InputError(f"{labels}: not found (a labelled set needs labels.json)")
    pairs, clusters = read_labels(labels)
    news = []
    files = sorted(folder.glob("*.jsonl"), key=lambda p: (p.name != "news.jsonl", p.name))
    for path in files:
        news.extend(load_jsonl(path).items)
    guides = load_guides(folder / "guides").guides
    return LabelledSet(
        name=folder.name,
        catalog=Catalog(news=tuple(news), guides=tuple(guides)),
        pairs=pairs,
        clusters=clusters,
        digest=digest_files([labels, *files]),
    )


def labelled_folders(root: Path, patterns: list[str]) -> Iterator[Path]:
    """Folders matching the patterns (relative to ``root``, or absolute) with a labels.json."""
    seen: set[Path] = set()
    for pattern in patterns:
        for match in sorted(Path(p) for p in glob.glob(str(root / pattern))):
            if (match / LABELS_FILE).is_file() and match not in seen:
                seen.add(match)
                yield match


def archive_corrections(archive: Archive, catalog: Catalog) -> LabelledSet | None:
    """Every editor decision in ``issues/*/overrides.json`` about items in ``catalog``.

    ``guide`` entries become pair labels (the last issue's decision wins), ``merge`` pairs
    one-story examples and ``split`` pairs different-story ones. Items no longer in the
    content are skipped: their features cannot be computed.
    """
    known = {i.id for i in catalog.news}
    slugs = {g.slug for g in catalog.guides}
    pairs: dict[str, str | None] = {}
    merges: list[list[str]] = []
    splits: list[tuple[str, str]] = []
    files: list[Path] = []
    plans, _ = archive.scan()
    for plan in plans:
        path = archive.file(plan.id, OVERRIDES_FILE)
        if not path.is_file():
            continue
        o = archive.load_overrides(plan.id)
        if not (o.guide or o.merge or o.split):
            continue
        files.append(path)
        for item, slug in sorted(o.guide.items()):
            if item in known and (slug is None or slug in slugs):
                pairs[item] = slug
        merges.extend([a, b] for a, b in o.merge if a in known and b in known)
        splits.extend((a, b) for a, b in o.split if a in known and b in known)
    if not files:
        return None
    return LabelledSet(
        name="archive corrections",
        catalog=catalog,
        pairs=pairs,
        clusters=merges,
        splits=splits,
        digest=digest_files(files),
        complete=False,
    )
