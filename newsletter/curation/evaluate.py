"""How well curation matches an editor: pairing accuracy and cluster precision/recall.

- **pairing accuracy**: share of labelled items whose guide (or "no guide") is the label,
  "no guide" items included; an item's guide is its story's, as in an issue (each predicted
  story paired as a whole);
- **cluster precision / recall**: over pairs of items, those put in one story that the labels
  put in one story, and the reverse.

``cross_validate`` measures what matters — content the model was not trained on:
leave-guides-out (hold out a third of the guides and every item labelled with them, train on
the rest, score the held-out items against all guides; several shuffles), and each labelled
set scored by a model trained on the others.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import combinations, pairwise

from newsletter.curation.clustering import Cluster, cluster_items
from newsletter.curation.labelled_set import LabelledSet
from newsletter.curation.model import CurationModel
from newsletter.curation.pairing import GuideIndex
from newsletter.curation.story_training import counts_at
from newsletter.curation.training import train
from newsletter.models import NewsItem


@dataclass
class Scores:
    """Figures for one labelled set (or one held-out part of it)."""

    name: str
    items: int = 0
    pairing_accuracy: float = 0.0
    pairing_correct: int = 0
    cluster_precision: float = 1.0
    cluster_recall: float = 1.0
    pairs_found: int = 0
    pairs_predicted: int = 0
    pairs_true: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)
    pairing_calibration: list[tuple[float, bool]] = field(default_factory=list)
    """Per item: the confidence of the decision (guide, or no guide) and whether it is right."""
    merge_calibration: list[tuple[float, bool]] = field(default_factory=list)
    """Per pair of items put in one story: that merge's confidence and whether it is right."""

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "items": self.items,
            "pairing_accuracy": round(self.pairing_accuracy, 4),
            "cluster_precision": round(self.cluster_precision, 4),
            "cluster_recall": round(self.cluster_recall, 4),
            "errors": self.errors,
        }


def _pairs(groups: Sequence[Sequence[str]]) -> set[tuple[str, str]]:
    return {p for g in groups for p in combinations(sorted(set(g)), 2)}


def cluster_pairs(
    clusters: Sequence[Cluster], labelled: LabelledSet, pool: Sequence[NewsItem]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Item pairs the clusters put in one story, and those the labels do (among ``pool``)."""
    predicted = _pairs([[m.id for m in c.members] for c in clusters])
    keep = {i.id for i in pool}
    truth = _pairs([[i for i in c if i in keep] for c in labelled.clusters])
    return predicted, truth


def score(
    model: CurationModel,
    labelled: LabelledSet,
    *,
    aliases: Mapping[str, str] | None = None,
    max_gap: timedelta = timedelta(hours=72),
    items: set[str] | None = None,
) -> Scores:
    """Score the model on a labelled set (optionally only some of its items)."""
    cat = labelled.catalog
    chosen = [i for i in cat.news if i.id in labelled.pairs and (items is None or i.id in items)]
    out = Scores(labelled.name, items=len(chosen))
    pool = [i for i in cat.news if items is None or i.id in items]
    clusters = cluster_items(pool, max_gap=max_gap, model=model)
    if chosen:
        # As the issue pairs them: each story as a whole, every report taking its guide.
        index = GuideIndex(cat.guides, aliases, model)
        paired = index.best_stories([c.members for c in clusters])
        story_of = {m.id: p for c, p in zip(clusters, paired, strict=True) for m in c.members}
        for item in chosen:
            p = story_of[item.id]
            guess = None if p.guide is None else cat.guides[p.guide].slug
            gold = labelled.pairs[item.id]
            decided = p.relevance if guess is not None else 1 - p.relevance
            out.pairing_calibration.append((round(decided, 4), guess == gold))
            if guess == gold:
                out.pairing_correct += 1
            else:
                out.errors.append(
                    {"item": item.id, "guide": guess, "label": gold, "confidence": p.relevance}
                )
        out.pairing_accuracy = out.pairing_correct / len(chosen)
    if labelled.clusters:
        predicted, truth = cluster_pairs(clusters, labelled, pool)
        for c in clusters:
            if c.confidence is not None:
                for pair in _pairs([[m.id for m in c.members]]):
                    out.merge_calibration.append((c.confidence, pair in truth))
        hit = len(predicted & truth)
        out.pairs_found, out.pairs_predicted, out.pairs_true = hit, len(predicted), len(truth)
        out.cluster_precision = hit / len(predicted) if predicted else 1.0
        out.cluster_recall = hit / len(truth) if truth else 1.0
        for a, b in sorted(truth - predicted):
            out.errors.append({"missed_merge": [a, b]})
        for a, b in sorted(predicted - truth):
            out.errors.append({"wrong_merge": [a, b]})
    return out


CALIBRATION_BINS = (0.0, 0.5, 0.7, 0.9, 1.0)


def _bins(records: Sequence[tuple[float, bool]]) -> list[dict[str, object]]:
    """Held-out decisions by stated confidence: how many, the mean stated, the share right."""
    out: list[dict[str, object]] = []
    for lo, hi in pairwise(CALIBRATION_BINS):
        last = hi == CALIBRATION_BINS[-1]
        inside = [(c, ok) for c, ok in records if lo <= c < hi or (last and c == hi)]
        if inside:
            out.append(
                {
                    "confidence": f"{lo:.1f}-{hi:.1f}",
                    "count": len(inside),
                    "stated": round(sum(c for c, _ in inside) / len(inside), 3),
                    "right": round(sum(ok for _, ok in inside) / len(inside), 3),
                }
            )
    return out


def _cluster_counts(
    model: CurationModel,
    parts: Sequence[tuple[LabelledSet, set[str]]],
    max_gap: timedelta,
    points: Sequence[tuple[float, float]],
) -> dict[tuple[float, float], tuple[int, int, int]]:
    """Per (merge, two-report) threshold pair: pairs found, predicted and labelled over the
    held-out items of every labelled set, clustered by ``model``'s same-story model."""
    pools = [
        (labelled, [i for i in labelled.catalog.news if i.id in items])
        for labelled, items in parts
        if labelled.clusters
    ]
    return counts_at(model.clustering.same_story, pools, max_gap, points)


def pooled_figures(counts: Sequence[tuple[int, int, int]]) -> dict[str, float]:
    """Precision and recall of splits: their mean (as the split table), and pooled over pairs."""

    def pr(f: int, p: int, t: int) -> tuple[float, float]:
        return (f / p if p else 1.0), (f / t if t else 1.0)

    each = [pr(*c) for c in counts]
    f, p, t = (sum(c[k] for c in counts) for k in range(3))
    pooled_p, pooled_r = pr(f, p, t)
    return {
        "cluster_precision": round(sum(x for x, _ in each) / len(each), 4) if each else 1.0,
        "cluster_recall": round(sum(y for _, y in each) / len(each), 4) if each else 1.0,
        "pooled_precision": round(pooled_p, 4),
        "pooled_recall": round(pooled_r, 4),
    }


def _fold(key: str, seed: int, folds: int) -> int:
    return (zlib.crc32(key.encode()) + seed) % folds


@dataclass(frozen=True)
class GuideSplit:
    """One leave-guides-out split: the held-out guides, the training sets (without them and
    their items), and per set the held-out item ids (their items and a fold of the
    "no guide" ones)."""

    seed: int
    held: set[str]
    train: list[LabelledSet]
    test: list[tuple[LabelledSet, set[str]]]


def guide_splits(
    sets: Sequence[LabelledSet], folds: int = 3, seeds: Sequence[int] = (0, 1, 2)
) -> Iterator[GuideSplit]:
    """Per seed, the guides shuffled and dealt into ``folds`` parts, each held out once."""
    slugs = sorted({g.slug for s in sets for g in s.catalog.guides})
    for seed in seeds:
        order = slugs[:]
        random.Random(seed).shuffle(order)
        for k in range(folds):
            held = set(order[k::folds])
            train_sets, test_sets = [], []
            for s in sets:
                nulls = {i for i, v in s.pairs.items() if v is None}
                test_items = {
                    i
                    for i, v in s.pairs.items()
                    if v in held or (i in nulls and _fold(i, seed, folds) == k)
                }
                train_items = {i.id for i in s.catalog.news} - test_items
                train_sets.append(s.only(train_items, set(slugs) - held))
                test_sets.append((s, test_items))
            yield GuideSplit(seed, held, train_sets, test_sets)


def cross_validate(
    sets: Sequence[LabelledSet],
    *,
    aliases: Mapping[str, str] | None = None,
    max_gap: timedelta = timedelta(hours=72),
    folds: int = 3,
    seeds: Sequence[int] = (0, 1, 2),
    operating_points: Sequence[tuple[float, float]] = (),
) -> dict[str, list[dict[str, object]]]:
    """Leave-guides-out splits and leave-one-set-out scores (see the module docstring), and
    how well the held-out confidences are calibrated (stated vs. share right, by bin).

    ``operating_points``: (merge threshold, two-report threshold) pairs at which every
    leave-guides-out split's clustering is scored again with the same trained model, so one
    can see whether any threshold, not only the trained one, reaches a precision and recall
    (``"operating_points"``, with each split's counts). Every split's own thresholds are
    learned from its training sets alone (``learn_thresholds``), so the split figures are
    free of any choice made on the held-out items.
    """
    out: dict[str, list[dict[str, object]]] = {
        "leave_guides_out": [],
        "cross_set": [],
        "calibration": [],
    }
    pooled: dict[str, list[tuple[float, bool]]] = {"pairing": [], "merge": []}
    at_points: list[list[tuple[int, int, int]]] = [[] for _ in operating_points]
    for split in guide_splits(sets, folds, seeds):
        train_sets, test_sets = split.train, split.test
        model = train(train_sets, aliases=aliases, max_gap=max_gap)
        parts = [score(model, s, aliases=aliases, max_gap=max_gap, items=t) for s, t in test_sets]
        for p in parts:
            pooled["pairing"] += p.pairing_calibration
            pooled["merge"] += p.merge_calibration
        n = sum(p.items for p in parts)
        correct = sum(p.pairing_correct for p in parts)
        found = sum(p.pairs_found for p in parts)
        predicted = sum(p.pairs_predicted for p in parts)
        true = sum(p.pairs_true for p in parts)
        out["leave_guides_out"].append(
            {
                "seed": split.seed,
                "held_out_guides": sorted(split.held),
                "items": n,
                "pairing_accuracy": round(correct / n, 4) if n else None,
                "cluster_precision": round(found / predicted, 4) if predicted else 1.0,
                "cluster_recall": round(found / true, 4) if true else 1.0,
                "pairs_found": found,
                "pairs_predicted": predicted,
                "pairs_true": true,
                "merge_threshold": model.clustering.merge_threshold,
                "two_report_threshold": model.clustering.two_report_threshold,
            }
        )
        if operating_points:
            at = _cluster_counts(model, test_sets, max_gap, operating_points)
            for point, counts in zip(operating_points, at_points, strict=True):
                counts.append(at[point])
    out["calibration"] = [
        {"decision": kind, **row} for kind, records in pooled.items() for row in _bins(records)
    ]
    if operating_points:
        out["operating_points"] = [
            {
                "merge_threshold": merge,
                "two_report_threshold": two,
                **pooled_figures(counts),
                "splits": [list(c) for c in counts],
            }
            for (merge, two), counts in zip(operating_points, at_points, strict=True)
        ]
    for k, s in enumerate(sets):
        others = [o for j, o in enumerate(sets) if j != k]
        if not others:
            continue
        model = train(others, aliases=aliases, max_gap=max_gap)
        result = score(model, s, aliases=aliases, max_gap=max_gap).as_dict()
        result["trained_on"] = [o.name for o in others]
        result["merge_threshold"] = model.clustering.merge_threshold
        result["two_report_threshold"] = model.clustering.two_report_threshold
        out["cross_set"].append(result)
    return out
