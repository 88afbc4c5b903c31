"""A labelled set: content and what an editor decided about it (pairings, stories, splits).

A labelled set is a folder like ``content/labelled/corpus-a/``: ``news.jsonl``, ``guides/``
and ``labels.json`` (``{"pairs": {item id: slug | null}, "clusters": [[ids]]}``, FORMAT.md).
Every ``issues/<id>/overrides.json`` adds what an editor decided: ``guide`` entries are pair
labels, ``merge`` pairs are same-story examples, ``split`` pairs different-story ones.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import InputError
from newsletter.models import Catalog

__all__ = ["LabelledSet", "digest_files", "read_labels", "without_topics"]


@dataclass
class LabelledSet:
    """Content and what an editor decided about it."""

    name: str
    catalog: Catalog
    pairs: dict[str, str | None] = field(default_factory=dict)
    clusters: list[list[str]] = field(default_factory=list)
    splits: list[tuple[str, str]] = field(default_factory=list)
    digest: str = ""
    complete: bool = True
    """The clusters are every story of the items (two items in no common cluster are
    different stories), as in labels.json. An editor's corrections are not: only the pairs
    they merged or split are decided."""

    def only(self, items: set[str], guides: set[str] | None = None) -> LabelledSet:
        """The same set restricted to some items (and, optionally, some guides)."""
        cat = self.catalog
        return LabelledSet(
            name=self.name,
            catalog=Catalog(
                news=tuple(i for i in cat.news if i.id in items),
                guides=tuple(g for g in cat.guides if guides is None or g.slug in guides),
            ),
            pairs={k: v for k, v in self.pairs.items() if k in items},
            clusters=[[i for i in c if i in items] for c in self.clusters],
            splits=[(a, b) for a, b in self.splits if a in items and b in items],
            digest=self.digest,
            complete=self.complete,
        )

    def same_story(self) -> dict[tuple[str, str], bool]:
        """Labelled item pairs: True within a cluster, False for an editor's split."""
        out: dict[tuple[str, str], bool] = {}
        for cluster in self.clusters:
            ids = sorted(set(cluster))
            for k, a in enumerate(ids):
                for b in ids[k + 1 :]:
                    out[(a, b)] = True
        for a, b in self.splits:
            out[(min(a, b), max(a, b))] = False
        return out


def read_labels(path: Path) -> tuple[dict[str, str | None], list[list[str]]]:
    """``labels.json``: pairs and clusters; a malformed file is one line naming the key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: must be an object with 'pairs' and 'clusters'")
    pairs = data.get("pairs", {})
    if not isinstance(pairs, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in pairs.items()
    ):
        raise InputError(f"{path}: pairs: must map item ids to a guide slug or null")
    clusters = data.get("clusters", [])
    if not isinstance(clusters, list) or not all(
        isinstance(c, list) and all(isinstance(i, str) for i in c) for c in clusters
    ):
        raise InputError(f"{path}: clusters: must be a list of lists of item ids")
    return dict(pairs), [list(c) for c in clusters]


def digest_files(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return "sha256:" + h.hexdigest()[:16]


def without_topics(labelled: LabelledSet, share: float = 1.0) -> LabelledSet:
    """The same set with ``share`` of its items (fixed by a hash of the id) listing no topic,
    as many feeds' items do."""
    cat = labelled.catalog
    cut = int(share * 1000)
    news = tuple(
        i.model_copy(update={"topics": ()}) if zlib.crc32(i.id.encode()) % 1000 < cut else i
        for i in cat.news
    )
    return LabelledSet(
        name=f"{labelled.name} (topics removed)",
        catalog=Catalog(news=news, guides=cat.guides),
        pairs=labelled.pairs,
        clusters=labelled.clusters,
        splits=labelled.splits,
        digest=labelled.digest,
        complete=labelled.complete,
    )
