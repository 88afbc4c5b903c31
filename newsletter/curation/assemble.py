"""Assemble an issue: load, window, history, cluster, rank, pair, write ``issue.json``."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import TypeAdapter

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.curation.candidates import focus_items, word_sample
from newsletter.curation.clustering import Cluster, cluster_items, representative_key
from newsletter.curation.guide_cache import guide_features
from newsletter.curation.history import featured_ids
from newsletter.curation.model import CurationModel, dump_model, load_model
from newsletter.curation.pairing import GuideIndex
from newsletter.curation.ranking import rank_clusters, select
from newsletter.curation.subject import make_preheader, make_subject
from newsletter.curation.windows import IssueSlot, issue_slot
from newsletter.errors import StateError
from newsletter.models import (
    Catalog,
    Edition,
    Guide,
    GuideCard,
    GuideRef,
    IssuePlan,
    NewsItem,
    Overrides,
    Problem,
    Story,
)
from newsletter.sources import load_content
from newsletter.sources.common import gc_paused

_ITEMS = TypeAdapter(list[NewsItem])
_GUIDES = TypeAdapter(list[Guide])
_DIGEST_CHUNK = 1024


@dataclass
class AssembleResult:
    """The plan written, where, the content problems met, and editorial warnings."""

    plan: IssuePlan
    path: Path
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent loading, curating and writing (for benchmarks and logs)."""


@dataclass(frozen=True)
class PairRow:
    """One line of ``newsletter pair``: an item, its guide (or None), and its cluster."""

    id: str
    guide: str | None
    relevance: float
    cluster: str
    reason: str
    cluster_confidence: float | None = None
    """How sure the item's merge is (None: a story of its own)."""

    @property
    def confidence(self) -> float:
        """Calibrated probability of the decision: the guide is right, or no guide is."""
        return self.relevance if self.guide is not None else round(1 - self.relevance, 4)


def read_overrides(archive: Archive, issue: str) -> Overrides:
    """Read ``issues/<id>/overrides.json`` (pin, exclude, guide, merge, split), if any."""
    return archive.load_overrides(issue)


def _digest(
    cfg: Settings,
    edition: Edition,
    slot: IssueSlot,
    window_items: Sequence[NewsItem],
    guides: Sequence[Guide],
    pins: Iterable[str],
    excludes: Iterable[str],
    history: Iterable[str],
    decisions: Overrides,
    model: CurationModel,
) -> str:
    h = hashlib.sha256()
    head = {
        "edition": edition,
        "slot": slot.slot.isoformat(),
        "window": [slot.window.start.isoformat(), slot.window.end.isoformat()],
        "number": slot.number,
        "config": {
            "edition": cfg.editions[edition].model_dump(mode="json"),
            "curation": cfg.curation.model_dump(mode="json"),
            "site": {"name": cfg.site.name},
        },
        "pins": sorted(set(pins)),
        "excludes": sorted(set(excludes)),
        "history": sorted(set(history)),
        "decisions": decisions.model_dump(mode="json", include={"guide", "merge", "split"}),
        "model": hashlib.sha256(dump_model(model).encode()).hexdigest(),
    }
    h.update(json.dumps(head, sort_keys=True, ensure_ascii=False).encode())
    ordered = sorted(window_items, key=lambda i: i.id)
    for start in range(0, len(ordered), _DIGEST_CHUNK):  # chunks: never one huge string
        h.update(_ITEMS.dump_json(ordered[start : start + _DIGEST_CHUNK]))
    h.update(_GUIDES.dump_json(sorted(guides, key=lambda g: g.slug)))
    return "sha256:" + h.hexdigest()


def curate(
    cfg: Settings,
    catalog: Catalog,
    slot: IssueSlot,
    *,
    history: frozenset[str] = frozenset(),
    pins: Sequence[str] = (),
    excludes: Sequence[str] = (),
    decisions: Overrides | None = None,
    model: CurationModel | None = None,
) -> tuple[IssuePlan, list[str]]:
    """Build the plan for ``slot`` from a catalog (pure: reads nothing but the model file).

    ``decisions`` are the editor's ``guide``, ``merge`` and ``split`` choices
    (overrides.json): they win over the model's.
    """
    warnings: list[str] = []
    cur = cfg.curation
    decisions = decisions or Overrides()
    model = model or curation_model(cfg)
    edition_cfg = cfg.editions[slot.edition]
    by_id = {i.id: i for i in catalog.news}
    exclude_set = frozenset(excludes)
    for kind, ids in (("pinned", pins), ("excluded", excludes)):
        for unknown in sorted({i for i in ids if i not in by_id}):
            warnings.append(f"{kind} item {unknown!r} is not in the content: ignored")
    pin_set = frozenset(i for i in pins if i in by_id and i not in exclude_set)
    for both in sorted(set(pins) & exclude_set):
        warnings.append(f"item {both!r} is both pinned and excluded: excluded")
    start, end = slot.window.start, slot.window.end
    in_window = [i for i in catalog.news if start < i.published_at <= end]
    for pid in sorted(pin_set):
        item = by_id[pid]
        if not start < item.published_at <= end:
            warnings.append(f"pinned item {pid!r} is outside the window: included anyway")
        if pid in history:
            warnings.append(
                f"pinned item {pid!r} was featured in an earlier issue: included anyway"
            )
    # Earlier-featured items just before the window join the clustering, so that a late
    # duplicate of a story already sent is recognised and not featured again.
    gap = cur.cluster_max_gap
    recent_history = [
        i for i in catalog.news if i.id in history and start - gap < i.published_at <= start
    ]
    seen = {i.id for i in recent_history}
    outside_pins = [
        by_id[p]
        for p in sorted(pin_set)
        if not start < by_id[p].published_at <= end and p not in seen
    ]
    population = [i for i in in_window if i.id not in exclude_set] + recent_history + outside_pins
    population = focus_items(
        population,
        slot=slot.slot,
        half_life=cur.recency_half_life,
        min_score=edition_cfg.min_score,
        top=max(edition_cfg.max_stories * 20, 200),
        max_gap=gap,
        keep=pin_set | {i.id for i in recent_history},
    )
    clusters = cluster_items(
        population,
        max_gap=gap,
        model=model,
        min_confidence=cur.min_merge_confidence,
        merge=decisions.merge,
        split=decisions.split,
        background=word_sample(in_window),
    )
    eligible: list[Cluster] = []
    for c in clusters:
        member_ids = {m.id for m in c.members}
        pinned_here = sorted(member_ids & pin_set)
        if not pinned_here and member_ids & history:
            continue
        members = [
            m
            for m in c.members
            if m.id not in exclude_set
            and (m.id not in history or m.id in pin_set)
            and (start < m.published_at <= end or m.id in pin_set)
        ]
        if not members:
            continue
        members.sort(key=representative_key)
        lead = by_id[pinned_here[0]] if pinned_here else members[0]
        others = tuple(m for m in members if m.id != lead.id)
        eligible.append(Cluster(lead, others, c.confidence if others else None))
    ranked = rank_clusters(eligible, slot.slot, cur.recency_half_life, pin_set)
    chosen = select(
        ranked,
        max_stories=edition_cfg.max_stories,
        min_score=edition_cfg.min_score,
        source_cap=cur.source_cap,
        diversity=cur.diversity,
    )
    if len(pin_set) > edition_cfg.max_stories:
        warnings.append(
            f"{len(pin_set)} pinned items exceed max_stories ({edition_cfg.max_stories}): all kept"
        )
    stories, cards = pair_stories(cfg, catalog, [r.cluster for r in chosen], decisions, model)
    titles = [s.item.title for s in stories]
    sources = [s.item.source for s in stories]
    edition_title = edition_cfg.title or slot.edition.capitalize()
    plan = IssuePlan(
        id=slot.id,
        edition=slot.edition,
        slot=slot.slot,
        window=slot.window,
        subject=make_subject(
            titles, f"{cfg.site.name} {edition_title}: a quiet week in AI", sources
        ),
        preheader=make_preheader(titles, len(cards), edition_title, cfg.site.name, sources),
        number=slot.number,
        stories=stories,
        guides=cards,
        inputs_digest=_digest(
            cfg,
            slot.edition,
            slot,
            in_window,
            catalog.guides,
            pins,
            excludes,
            history,
            decisions,
            model,
        ),
    )
    return plan, warnings


def curation_model(cfg: Settings) -> CurationModel:
    """The configured model (``curation.model``), or the shipped one until it is trained."""
    return load_model(cfg.path(cfg.curation.model))


def guide_index(cfg: Settings, catalog: Catalog, model: CurationModel) -> GuideIndex:
    """The guides' index for pairing, its features from the on-disk cache when current."""
    aliases = cfg.curation.topic_aliases
    features = guide_features(catalog.guides, aliases, cfg.path(cfg.curation.cache_dir))
    return GuideIndex(catalog.guides, aliases, model, features)


def _editor_choice(cluster: Cluster, decisions: Overrides) -> tuple[bool, str | None]:
    """Whether the editor chose this story's guide, and which (None: no guide)."""
    for member in cluster.members:
        if member.id in decisions.guide:
            return True, decisions.guide[member.id]
    return False, None


def pair_stories(
    cfg: Settings,
    catalog: Catalog,
    clusters: Sequence[Cluster],
    decisions: Overrides,
    model: CurationModel,
) -> tuple[list[Story], list[GuideCard]]:
    """Stories with their guides: the editor's choices first, then the model's, each guide once.

    A story is paired as a whole (its reports' evidence pooled, see
    :meth:`GuideIndex.story_relevance`); the editor's choice for any member counts.
    """
    index = guide_index(cfg, catalog, model)
    slug_index = {g.slug: k for k, g in enumerate(index.guides)}
    chosen: dict[int, GuideRef | None] = {}
    taken: set[int] = set()
    for n, cluster in enumerate(clusters):
        decided, slug = _editor_choice(cluster, decisions)
        if not decided:
            continue
        if slug is None or slug not in slug_index:
            chosen[n] = None
            continue
        g = slug_index[slug]
        picked = index.guide_ref(cluster.representative, g, 1.0)
        chosen[n] = picked.model_copy(update={"reason": "chosen by an editor"})
        taken.add(g)
    open_ = [n for n in range(len(clusters)) if n not in chosen]
    reports = [clusters[n].members for n in open_]
    assigned = index.assign_once(reports, cfg.curation.min_pair_confidence, exclude=taken)
    for n, pairing in zip(open_, assigned, strict=True):
        chosen[n] = None
        if pairing is not None:
            g, confidence = pairing
            chosen[n] = index.guide_ref(clusters[n].representative, g, confidence)
    stories: list[Story] = []
    cards: list[GuideCard] = []
    by_slug = {g.slug: g for g in index.guides}
    for n, cluster in enumerate(clusters):
        ref = chosen[n]
        if ref is not None:
            guide = by_slug[ref.slug]
            cards.append(
                GuideCard(
                    slug=guide.slug,
                    title=guide.title,
                    url=guide.url,
                    level=guide.level,
                    tldr=guide.tldr,
                )
            )
        stories.append(
            Story(
                item=cluster.representative,
                also=cluster.also,
                guide=ref,
                merge_confidence=cluster.confidence,
            )
        )
    return stories, cards


def assemble_issue(
    cfg: Settings,
    edition: Edition,
    at: datetime,
    *,
    content_dir: Path | None = None,
    pins: Sequence[str] = (),
    excludes: Sequence[str] = (),
    force: bool = False,
) -> AssembleResult:
    """Assemble the issue of the first ``edition`` slot at or after ``at`` and save it.

    Pins and exclusions from the arguments are merged with ``issues/<id>/overrides.json``.
    An existing draft is replaced; an issue past draft is refused unless ``force``.
    """
    slot = issue_slot(cfg, edition, at)
    archive = Archive(cfg.archive_dir)
    if archive.exists(slot.id) and not force:
        status = archive.load_plan(slot.id).status
        if status != "draft":
            raise StateError(
                f"{slot.id}: issue is {status}; re-assembling would replace it (use --force)"
            )
    overrides = read_overrides(archive, slot.id)
    all_pins = tuple(dict.fromkeys([*overrides.pin, *pins]))
    all_excludes = tuple(dict.fromkeys([*overrides.exclude, *excludes]))
    # Loading and curating build many long-lived objects and no reference cycles: with the
    # cyclic collector running, 100k items cost ~0.5 s of full collections that free nothing.
    with gc_paused():
        t0 = time.perf_counter()
        loaded = load_content(cfg, content_dir)
        t1 = time.perf_counter()
        history = featured_ids(archive, exclude_issue=slot.id, before=slot.slot)
        plan, warnings = curate(
            cfg,
            loaded.catalog,
            slot,
            history=history,
            pins=all_pins,
            excludes=all_excludes,
            decisions=overrides,
        )
        t2 = time.perf_counter()
    path = archive.save_plan(plan)
    t3 = time.perf_counter()
    timings = {"load": t1 - t0, "curate": t2 - t1, "write": t3 - t2}
    return AssembleResult(
        plan=plan,
        path=path,
        problems=list(loaded.problems),
        warnings=warnings,
        timings=timings,
    )


def pair_catalog(cfg: Settings, catalog: Catalog) -> list[PairRow]:
    """For every news item (input order): its best guide or None, confidence, cluster, reason."""
    cur = cfg.curation
    model = curation_model(cfg)
    clusters = cluster_items(
        catalog.news,
        max_gap=cur.cluster_max_gap,
        model=model,
        min_confidence=cur.min_merge_confidence,
    )
    rep = {m.id: c.representative.id for c in clusters for m in c.members}
    merged = {m.id: c.confidence for c in clusters for m in c.members}
    index = guide_index(cfg, catalog, model)
    # Each report takes its story's guide: a story is paired as a whole.
    story_best = index.best_stories([c.members for c in clusters], cur.min_pair_confidence)
    by_item = {m.id: p for c, p in zip(clusters, story_best, strict=True) for m in c.members}
    best = [by_item[i.id] for i in catalog.news]
    rows = []
    for item, p in zip(catalog.news, best, strict=True):
        guide = None if p.guide is None else index.guides[p.guide].slug
        reason = "no guide is likely enough" if p.guide is None else index.reason(item, p.guide)
        rows.append(PairRow(item.id, guide, p.relevance, rep[item.id], reason, merged[item.id]))
    return rows
