"""What the editor chooses from: the content catalog, the bench, and guide candidates.

The bench is the window's candidate stories that are not in the issue, ranked the way
curation ranks them (same clustering, same rank); guide candidates are every guide ranked by
curation's relevance to a story, with curation's reason. Both are computed by calling the
curation functions, never by re-implementing them.

The catalog and its guide index are cached per process, keyed on the content files' sizes and
modification times, so an edit does not reload the content.
"""

from __future__ import annotations

import glob
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.curation import (
    GuideIndex,
    cluster_items,
    curation_model,
    featured_ids,
    guide_index,
    rank_clusters,
)
from newsletter.models import (
    AlsoRef,
    Catalog,
    Guide,
    GuideCard,
    GuideRef,
    IssuePlan,
    NewsItem,
    Story,
)
from newsletter.sources import load_content

URL_TTL = 300.0
"""Seconds a catalog that includes feed URLs is reused before the feeds are fetched again."""
GUIDE_CHOICES = 5
"""Guide candidates offered per story."""
MEMO_LIMIT = 20_000
"""Memo entries kept per workspace before they are dropped (bounds memory)."""


class BenchEntry(BaseModel):
    """A candidate story not in the issue: its lead item, its cluster, its rank."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    source: str
    url: str
    published_at: str
    score: float
    rank: float
    cluster: list[str]
    """Ids of the other items reporting the same story."""
    sources: list[str]


class GuideChoice(BaseModel):
    """A guide that could be paired with a story, with curation's relevance and reason."""

    model_config = ConfigDict(frozen=True)

    slug: str
    title: str
    relevance: float
    reason: str


@dataclass
class Workspace:
    """The loaded catalog and the indexes an edit needs."""

    catalog: Catalog
    index: GuideIndex
    by_id: dict[str, NewsItem] = field(default_factory=dict)
    by_slug: dict[str, int] = field(default_factory=dict)
    # Memos: the content of a workspace never changes, so scores, reasons and benches computed
    # once stay right (an edit page asks for the same ones after every change).
    _rows: dict[NewsItem, np.ndarray] = field(default_factory=dict)
    _reasons: dict[tuple[NewsItem, int], str] = field(default_factory=dict)
    _benches: dict[tuple[object, ...], list[BenchEntry]] = field(default_factory=dict)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, cfg: Settings, catalog: Catalog) -> Workspace:
        index = guide_index(cfg, catalog, curation_model(cfg))
        return cls(
            catalog=catalog,
            index=index,
            by_id={i.id: i for i in catalog.news},
            by_slug={g.slug: k for k, g in enumerate(index.guides)},
        )

    def guide(self, slug: str) -> Guide | None:
        k = self.by_slug.get(slug)
        return None if k is None else self.index.guides[k]

    def relevance_rows(self, items: Sequence[NewsItem]) -> list[np.ndarray]:
        """Curation's relevance of each item to every guide (memoised per item)."""
        missing = [i for i in dict.fromkeys(items) if i not in self._rows]
        if missing:
            dense = self.index.relevance(missing).toarray()
            with self._memo_lock:
                if len(self._rows) > MEMO_LIMIT:
                    self._rows.clear()
                self._rows.update(zip(missing, dense, strict=True))
        return [self._rows[i] for i in items]

    def members(self, story: Story) -> list[NewsItem]:
        """A story's reports (its lead first) among the loaded items."""
        return [story.item, *(self.by_id[a.id] for a in story.also if a.id in self.by_id)]

    def story_row(self, members: Sequence[NewsItem]) -> np.ndarray:
        """A story's relevance to every guide: its reports' mean (curation pairs stories as
        a whole, ``GuideIndex.story_relevance``)."""
        rows = self.relevance_rows(members)
        return np.asarray(np.mean(rows, axis=0)) if rows else np.zeros(len(self.index.guides))

    def reason(self, item: NewsItem, k: int) -> str:
        """Curation's reason for pairing ``item`` with guide ``k`` (memoised)."""
        key = (item, k)
        found = self._reasons.get(key)
        if found is None:
            found = self.index.reason(item, k)
            with self._memo_lock:
                if len(self._reasons) > MEMO_LIMIT:
                    self._reasons.clear()
                self._reasons[key] = found
        return found

    def guide_ref(self, members: Sequence[NewsItem], slug: str) -> GuideRef:
        """The reference curation would write for pairing a story (its reports, lead first)
        with guide ``slug``."""
        k = self.by_slug[slug]
        relevance = float(self.story_row(members)[k])
        return self.index.guide_ref(members[0], k, relevance)

    def best_free_guide(
        self, members: Sequence[NewsItem], taken: Iterable[str], min_relevance: float
    ) -> GuideRef | None:
        """The most relevant guide for a story (its reports, lead first) not already paired in
        the issue, above the threshold."""
        if not self.index.guides:
            return None
        item = members[0]
        used = set(taken)
        row = self.story_row(members)
        for k in sorted(range(len(row)), key=lambda g: (-row[g], g)):
            if row[k] < max(min_relevance, 1e-12):
                return None
            if self.index.guides[k].slug not in used:
                return self.index.guide_ref(item, k, float(row[k]))
        return None

    def guide_choices(
        self, stories: Sequence[Sequence[NewsItem]], limit: int = GUIDE_CHOICES
    ) -> list[list[GuideChoice]]:
        """Per story (its reports, lead first): the ``limit`` most relevant guides, best
        first, each with its reason (for the lead)."""
        if not stories or not self.index.guides:
            return [[] for _ in stories]
        rel = [self.story_row(members) for members in stories]
        out: list[list[GuideChoice]] = []
        for row, item in zip(rel, (members[0] for members in stories), strict=True):
            order = sorted(range(len(row)), key=lambda g: (-row[g], g))[:limit]
            out.append(
                [
                    GuideChoice(
                        slug=self.index.guides[k].slug,
                        title=self.index.guides[k].title,
                        relevance=round(float(row[k]), 4),
                        reason=self.reason(item, k) if row[k] > 0 else "no shared subject",
                    )
                    for k in order
                ]
            )
        return out

    def card(self, slug: str, previous: dict[str, GuideCard]) -> GuideCard | None:
        """The "Guides of the week" card of a guide (the old one if the guide is gone)."""
        g = self.guide(slug)
        if g is None:
            return previous.get(slug)
        return GuideCard(slug=g.slug, title=g.title, url=g.url, level=g.level, tldr=g.tldr)


def issue_item_ids(plan: IssuePlan) -> set[str]:
    """Every item id in the plan: story leads and their other coverage."""
    return {s.item.id for s in plan.stories} | {a.id for s in plan.stories for a in s.also}


def bench(cfg: Settings, archive: Archive, plan: IssuePlan, ws: Workspace) -> list[BenchEntry]:
    """The window's stories not in the issue, best first (curation's clustering and rank).

    Items featured in an earlier issue are left out, as curation leaves them out.
    """
    cur = cfg.curation
    start, end = plan.window.start, plan.window.end
    taken = issue_item_ids(plan)
    history = featured_ids(archive, exclude_issue=plan.id, before=plan.slot)
    key = (frozenset(taken), start, end, plan.slot, history)
    found = ws._benches.get(key)
    if found is not None:
        return found
    pool = [
        i
        for i in ws.catalog.news
        if start < i.published_at <= end and i.id not in taken and i.id not in history
    ]
    clusters = cluster_items(
        pool,
        max_gap=cur.cluster_max_gap,
        model=ws.index.model,
        min_confidence=cur.min_merge_confidence,
    )
    ranked = rank_clusters(clusters, plan.slot, cur.recency_half_life, frozenset())
    entries = [
        BenchEntry(
            id=r.cluster.representative.id,
            title=r.cluster.representative.title,
            source=r.cluster.representative.source,
            url=r.cluster.representative.url,
            published_at=r.cluster.representative.published_at.isoformat(),
            score=r.cluster.representative.score,
            rank=r.rank,
            cluster=[o.id for o in r.cluster.others],
            sources=[o.source for o in r.cluster.others],
        )
        for r in ranked
    ]
    with ws._memo_lock:
        if len(ws._benches) > 64:
            ws._benches.clear()
        ws._benches[key] = entries
    return entries


def bench_story(
    cfg: Settings, archive: Archive, plan: IssuePlan, ws: Workspace, item_id: str
) -> Story | None:
    """The story a bench entry becomes when added: lead, other coverage, best free guide."""
    for entry in bench(cfg, archive, plan, ws):
        if entry.id == item_id:
            item = ws.by_id[item_id]
            also = tuple(
                AlsoRef(source=ws.by_id[o].source, url=ws.by_id[o].url, id=o) for o in entry.cluster
            )
            taken = [s.guide.slug for s in plan.stories if s.guide is not None]
            cut = ws.index.threshold(cfg.curation.min_pair_confidence)
            guide = ws.best_free_guide([item, *(ws.by_id[o] for o in entry.cluster)], taken, cut)
            return Story(item=item, also=also, guide=guide)
    return None


_lock = threading.Lock()
_cache: dict[str, tuple[tuple[object, ...], Workspace]] = {}


def _fingerprint(cfg: Settings) -> tuple[object, ...]:
    """Sizes and mtimes of every content file (and a time bucket when feeds are URLs)."""
    parts: list[object] = []
    for pattern in cfg.content.news:
        if "://" in pattern:
            parts.append((pattern, int(time.monotonic() // URL_TTL)))
            continue
        for name in sorted(glob.glob(str(cfg.path(pattern)), recursive=True)):
            parts.append(_stat(Path(name)))
    guides = cfg.path(cfg.content.guides)
    if guides.is_dir():
        parts.extend(_stat(p) for p in sorted(guides.rglob("*")) if p.is_file())
    return tuple(parts)


def _stat(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size)


def load_workspace(cfg: Settings) -> Workspace:
    """The configured content as a :class:`Workspace`, reused while the files are unchanged."""
    key = cfg.content.model_dump_json() + str(cfg.path("."))
    fingerprint = _fingerprint(cfg)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == fingerprint:
            return hit[1]
    ws = Workspace.build(cfg, load_content(cfg).catalog)
    with _lock:
        _cache.clear()  # one configuration per process in practice; keep memory bounded
        _cache[key] = (fingerprint, ws)
    return ws
