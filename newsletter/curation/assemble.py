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
from newsletter.curation.candidates import focus_items
from newsletter.curation.clustering import Cluster, cluster_items, representative_key
from newsletter.curation.history import featured_ids
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
) -> tuple[IssuePlan, list[str]]:
    """Build the plan for ``slot`` from a catalog (pure: reads and writes nothing)."""
    warnings: list[str] = []
    cur = cfg.curation
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
    clusters = cluster_items(population, threshold=cur.cluster_threshold, max_gap=gap)
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
        eligible.append(Cluster(lead, tuple(m for m in members if m.id != lead.id)))
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
    index = GuideIndex(catalog.guides, cur.topic_aliases)
    reps = [r.cluster.representative for r in chosen]
    assigned = index.assign_once(reps, cur.min_pair_relevance)
    stories: list[Story] = []
    cards: list[GuideCard] = []
    for r, pairing in zip(chosen, assigned, strict=True):
        item = r.cluster.representative
        guide_ref = None
        if pairing is not None:
            g_index, relevance = pairing
            guide_ref = index.guide_ref(item, g_index, relevance)
            g = index.guides[g_index]
            cards.append(
                GuideCard(slug=g.slug, title=g.title, url=g.url, level=g.level, tldr=g.tldr)
            )
        stories.append(Story(item=item, also=r.cluster.also, guide=guide_ref))
    titles = [s.item.title for s in stories]
    edition_title = edition_cfg.title or slot.edition.capitalize()
    plan = IssuePlan(
        id=slot.id,
        edition=slot.edition,
        slot=slot.slot,
        window=slot.window,
        subject=make_subject(titles, f"{cfg.site.name} {edition_title}: a quiet week in AI"),
        preheader=make_preheader(titles, len(cards), edition_title, cfg.site.name),
        number=slot.number,
        stories=stories,
        guides=cards,
        inputs_digest=_digest(
            cfg, slot.edition, slot, in_window, catalog.guides, pins, excludes, history
        ),
    )
    return plan, warnings


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
            cfg, loaded.catalog, slot, history=history, pins=all_pins, excludes=all_excludes
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
    """For every news item (input order): its best guide or None, relevance, cluster, reason."""
    cur = cfg.curation
    clusters = cluster_items(
        catalog.news, threshold=cur.cluster_threshold, max_gap=cur.cluster_max_gap
    )
    rep = {m.id: c.representative.id for c in clusters for m in c.members}
    index = GuideIndex(catalog.guides, cur.topic_aliases)
    best = index.best(catalog.news, cur.min_pair_relevance)
    rows = []
    for item, p in zip(catalog.news, best, strict=True):
        if p.guide is None:
            rows.append(
                PairRow(item.id, None, p.relevance, rep[item.id], "no guide is relevant enough")
            )
        else:
            rows.append(
                PairRow(
                    item.id,
                    index.guides[p.guide].slug,
                    p.relevance,
                    rep[item.id],
                    index.reason(item, p.guide),
                )
            )
    return rows
