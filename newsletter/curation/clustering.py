"""Near-duplicate clustering: the same event reported by several sources becomes one story.

The learned same-story model (``newsletter.curation.model``) gives, for every candidate pair
of items within ``curation.cluster_max_gap``, the probability that both report one event
(features: ``newsletter.curation.cluster_features``). Items are then merged by **average
linkage**: the two groups with the highest mean probability over all their cross pairs (a
pair never scored counts as 0) merge first, while that mean reaches the threshold. A third
story cannot chain two different ones together, because every member counts, not only the
closest. Two items of one source never share a story (an outlet does not report its own
story twice), and the editor's ``merge`` and ``split`` decisions are applied first and kept.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from newsletter.curation.cluster_features import ItemSpace
from newsletter.curation.model import CurationModel, load_model
from newsletter.models import AlsoRef, NewsItem

NEGLIGIBLE = 0.1
"""Same-story probability below which a pair is left out of the linkage (as never scored)."""


@dataclass(frozen=True)
class Cluster:
    """One story: its representative item, the other items reporting it, and how sure."""

    representative: NewsItem
    others: tuple[NewsItem, ...]
    confidence: float | None = None
    """Weakest merge that formed the group (mean same-story probability); None when alone."""

    @property
    def members(self) -> tuple[NewsItem, ...]:
        return (self.representative, *self.others)

    @property
    def also(self) -> tuple[AlsoRef, ...]:
        return tuple(AlsoRef(source=o.source, url=o.url, id=o.id) for o in self.others)


def representative_key(item: NewsItem) -> tuple[float, float, str]:
    """Sort key: highest score first, then earliest published, then id."""
    return (-item.score, item.published_at.timestamp(), item.id)


def same_story(
    items: Sequence[NewsItem],
    max_gap: timedelta,
    model: CurationModel | None = None,
    background: Sequence[NewsItem] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs (i < j) and the probability that each pair is one story."""
    space = ItemSpace(items, background)
    rows, cols, text = space.candidates(max_gap.total_seconds())
    if not len(rows):
        return rows, cols, np.zeros(0)
    linear = (model or load_model()).clustering.same_story
    x = space.features(rows, cols, linear.features, text)
    prob = linear.probability(x, linear.features)
    return rows, cols, prob


class _Groups:
    """Average-linkage state: members, sources and summed cross-group probabilities."""

    def __init__(self, items: Sequence[NewsItem], split: set[tuple[int, int]]) -> None:
        n = len(items)
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.sources: dict[int, set[str]] = {i: {items[i].source} for i in range(n)}
        self.sums: dict[int, dict[int, float]] = {i: {} for i in range(n)}
        self.weakest: dict[int, float] = {}
        self.split = split

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def allowed(self, a: int, b: int) -> bool:
        if self.sources[a] & self.sources[b]:
            return False
        if not self.split:
            return True
        return not any(
            (min(x, y), max(x, y)) in self.split for x in self.members[a] for y in self.members[b]
        )

    def mean(self, a: int, b: int) -> float:
        return self.sums[a].get(b, 0.0) / (len(self.members[a]) * len(self.members[b]))

    def union(self, a: int, b: int, confidence: float) -> int:
        keep, drop = (a, b) if a < b else (b, a)
        self.parent[drop] = keep
        self.members[keep].extend(self.members.pop(drop))
        self.sources[keep] |= self.sources.pop(drop)
        dropped = self.sums.pop(drop)
        dropped.pop(keep, None)
        self.sums[keep].pop(drop, None)
        for other, value in dropped.items():
            self.sums[keep][other] = self.sums[keep].get(other, 0.0) + value
            self.sums[other][keep] = self.sums[other].get(keep, 0.0) + value
            self.sums[other].pop(drop, None)
        self.weakest[keep] = min(
            confidence, self.weakest.pop(drop, 1.0), self.weakest.get(keep, 1.0)
        )
        return keep


def cluster_items(
    items: Sequence[NewsItem],
    *,
    max_gap: timedelta,
    model: CurationModel | None = None,
    min_confidence: float | None = None,
    merge: Iterable[tuple[str, str]] = (),
    split: Iterable[tuple[str, str]] = (),
    background: Sequence[NewsItem] = (),
) -> list[Cluster]:
    """Group near-duplicates; every item is in exactly one cluster.

    ``background`` items only weigh words (see :class:`ItemSpace`). ``merge`` and ``split`` are pairs of item ids an editor decided are (not) one story;
    ids not among ``items`` are ignored. Clusters come in the order of their representatives'
    :func:`representative_key`; the same items in any order give the same clusters.
    """
    n = len(items)
    if n == 0:
        return []
    model = model or load_model()
    threshold = model.clustering.merge_threshold if min_confidence is None else min_confidence
    times = np.array([i.published_at.timestamp() for i in items], dtype=np.float64)
    order = np.lexsort((np.array([i.id for i in items]), times))
    ordered = [items[k] for k in order]
    position = {item.id: k for k, item in enumerate(ordered)}

    def pairs(ids: Iterable[tuple[str, str]]) -> set[tuple[int, int]]:
        out = set()
        for a, b in ids:
            if a in position and b in position and a != b:
                x, y = position[a], position[b]
                out.add((min(x, y), max(x, y)))
        return out

    forced, forbidden = pairs(merge), pairs(split)
    groups = _Groups(ordered, forbidden - forced)
    rows, cols, prob = same_story(ordered, max_gap, model, background)
    # Pairs almost surely apart only dilute means; dropping them (they count as 0, like
    # pairs never scored) keeps the linkage loop to the pairs that matter.
    useful = prob >= NEGLIGIBLE
    rows, cols, prob = rows[useful], cols[useful], prob[useful]
    for r, c, p in zip(rows.tolist(), cols.tolist(), prob.tolist(), strict=True):
        if (r, c) in forbidden:
            continue
        groups.sums[r][c] = groups.sums[r].get(c, 0.0) + p
        groups.sums[c][r] = groups.sums[c].get(r, 0.0) + p
    for a, b in sorted(forced):
        ra, rb = groups.find(a), groups.find(b)
        if ra != rb:
            groups.union(ra, rb, 1.0)
    heap = [
        (-m, a, b)
        for a in list(groups.members)
        for b, total in groups.sums[a].items()
        if a < b and (m := total / (len(groups.members[a]) * len(groups.members[b]))) >= threshold
    ]
    heapq.heapify(heap)
    while heap:
        neg, a, b = heapq.heappop(heap)
        if a not in groups.members or b not in groups.members:
            continue
        value = groups.mean(a, b)
        if abs(value + neg) > 1e-12 or value < threshold:
            continue  # stale entry: the groups changed since it was pushed
        if not groups.allowed(a, b):
            continue
        keep = groups.union(a, b, value)
        size = len(groups.members[keep])
        # Heap entries order by (mean, ids), so the order of these pushes does not matter.
        for other, total in groups.sums[keep].items():
            m = total / (size * len(groups.members[other]))
            if m >= threshold:
                heapq.heappush(heap, (-m, min(keep, other), max(keep, other)))
    clusters = []
    for root, members in groups.members.items():
        people = sorted((ordered[k] for k in members), key=representative_key)
        conf = groups.weakest.get(root) if len(people) > 1 else None
        clusters.append(
            Cluster(people[0], tuple(people[1:]), None if conf is None else round(conf, 4))
        )
    clusters.sort(key=lambda c: representative_key(c.representative))
    return clusters
