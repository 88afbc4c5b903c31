"""Near-duplicate clustering: the same story reported by several sources becomes one story.

Two items are the same story when their similarity, the mean of three cosines (headline
TF-IDF, headline+summary TF-IDF, capitalised-entity TF-IDF), damped linearly by the time
between them (zero at ``curation.cluster_max_gap``), reaches ``curation.cluster_threshold``.
Pairs are merged strongest first (union-find) and a merge that would put two items of the
same source into one story is refused: one publication does not report its own story twice.

Scaling: candidate pairs come from sparse products over time-sorted chunks, restricted to
items within the time gap and to terms that are not ubiquitous, so no dense n×n matrix is
ever built; exact similarities are then computed for the candidates only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import scipy.sparse as sp

from newsletter.curation.text import item_text, text_and_entities, tfidf
from newsletter.models import AlsoRef, NewsItem

_CHUNK = 512
# Terms in more documents than this do not generate candidate pairs (they still count in
# the exact similarity): near-duplicates share specific words, not "model" or "AI".
_CANDIDATE_MAX_DF = 200
# Where sources conflict, only each item's strongest links are replayed through union-find:
# a story's members are linked by their strongest similarities, not by the weakest.
_TOP_EDGES = 8
_PAIR_SLICE = 16_384


@dataclass(frozen=True)
class Cluster:
    """One story: its representative item and the other items reporting it."""

    representative: NewsItem
    others: tuple[NewsItem, ...]

    @property
    def members(self) -> tuple[NewsItem, ...]:
        return (self.representative, *self.others)

    @property
    def also(self) -> tuple[AlsoRef, ...]:
        return tuple(AlsoRef(source=o.source, url=o.url, id=o.id) for o in self.others)


def representative_key(item: NewsItem) -> tuple[float, float, str]:
    """Sort key: highest score first, then earliest published, then id."""
    return (-item.score, item.published_at.timestamp(), item.id)


def similarity_features(items: Sequence[NewsItem]) -> sp.csr_matrix:
    """Rows whose dot products are the (undamped) similarity: [title | text | entities]/√3."""
    titles = tfidf([i.title for i in items])
    words, entities = text_and_entities([f"{item_text(i)}. {'. '.join(i.topics)}" for i in items])
    blocks = [titles, words, entities]
    stacked = sp.hstack(blocks, format="csr", dtype=np.float32)
    return (stacked * np.float32(1 / np.sqrt(3.0))).tocsr()


def _similar_pairs(
    features: sp.csr_matrix, times: np.ndarray, gap: float, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j, time order) whose time-damped similarity reaches ``threshold``.

    Candidates come from a product over specific terms only (df ≤ ``_CANDIDATE_MAX_DF``); the
    rest of the similarity is bounded by Cauchy–Schwarz (‖common part of i‖·‖common part of
    j‖), so a pair is skipped only when it cannot reach the threshold. Exact similarities are
    computed chunk by chunk for the surviving candidates, keeping memory bounded.
    """
    n = features.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    if n < 2 or features.shape[1] == 0 or gap <= 0:
        return empty, empty, np.zeros(0)
    df = np.bincount(features.indices, minlength=features.shape[1])
    specific = (df >= 2) & (df <= _CANDIDATE_MAX_DF)
    pruned = features[:, np.flatnonzero(specific)].tocsr()
    common = features[:, np.flatnonzero(~specific)].tocsr()
    common_norm = np.sqrt(np.asarray(common.multiply(common).sum(axis=1)).ravel())
    out_r: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        hi = int(np.searchsorted(times, times[stop - 1] + gap, side="right"))
        block = (pruned[start:stop] @ pruned[start:hi].T).tocoo()
        r = block.row.astype(np.int64) + start
        c = block.col.astype(np.int64) + start
        damp = 1.0 - (times[c] - times[r]) / gap
        bound = (block.data + common_norm[r] * common_norm[c]) * damp
        keep = (c > r) & (damp > 0) & (bound >= threshold - 1e-6)
        r, c, damp = r[keep], c[keep], damp[keep]
        if not len(r):
            continue
        exact = np.concatenate(
            [
                np.asarray(
                    features[r[s : s + _PAIR_SLICE]]
                    .multiply(features[c[s : s + _PAIR_SLICE]])
                    .sum(axis=1)
                ).ravel()
                for s in range(0, len(r), _PAIR_SLICE)
            ]
        )
        exact = exact * damp
        hit = exact >= threshold - 1e-9
        out_r.append(r[hit])
        out_c.append(c[hit])
        out_s.append(exact[hit])
    if not out_r:
        return empty, empty, np.zeros(0)
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_s)


def _strongest(
    rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep an edge when it is among the ``k`` strongest of either end (ties: position)."""
    if len(rows) == 0:
        return rows, cols, sims
    keep = np.zeros(len(rows), dtype=bool)
    for end in (rows, cols):
        order = np.lexsort((rows, cols, -sims, end))
        ends = end[order]
        first = np.r_[0, np.flatnonzero(ends[1:] != ends[:-1]) + 1]
        rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
        keep[order[rank < k]] = True
    return rows[keep], cols[keep], sims[keep]


def _components(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Connected-component label per node, numbered in order of each component's lowest node.

    The same labels as ``scipy.sparse.csgraph.connected_components(directed=False)``, without
    importing ``scipy.sparse.csgraph`` (it pulls in ``scipy.linalg``: ~0.1 s per run). Min-label
    propagation with pointer jumping: each round halves the distance to the root.
    """
    label = np.arange(n, dtype=np.int64)
    a = np.asarray(rows, dtype=np.int64)
    b = np.asarray(cols, dtype=np.int64)
    while True:
        low = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]  # pointer jumping
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            break
        label = new
    _, dense = np.unique(label, return_inverse=True)
    return dense.astype(np.int32)


def _merge(
    ordered: Sequence[NewsItem], rows: np.ndarray, cols: np.ndarray, sims: np.ndarray
) -> np.ndarray:
    """Root index per item after merging the edges, never joining two items of one source.

    Components whose sources are all different come straight from ``connected_components``;
    only components with a source conflict replay their edges, strongest first, through a
    union-find that refuses conflicting merges.
    """
    n = len(ordered)
    labels = _components(n, rows, cols)
    _, source_codes = np.unique(np.array([i.source for i in ordered]), return_inverse=True)
    size = np.bincount(labels)
    pairs = np.unique(labels.astype(np.int64) * (int(source_codes.max()) + 1) + source_codes)
    distinct = np.bincount(pairs // (int(source_codes.max()) + 1), minlength=len(size))
    conflict = distinct < size
    root = np.full(len(size), n, dtype=np.int64)
    np.minimum.at(root, labels, np.arange(n))
    parent = root[labels]
    parent[conflict[labels]] = np.flatnonzero(conflict[labels])
    inside = conflict[labels[rows]]
    rows, cols, sims = _strongest(rows[inside], cols[inside], sims[inside], _TOP_EDGES)
    # Strongest first; ties broken by position (time, then id): deterministic.
    sources: dict[int, set[str]] = {}

    def find(x: int) -> int:
        top = x
        while parent[top] != top:
            top = int(parent[top])
        while parent[x] != top:
            parent[x], x = top, int(parent[x])
        return top

    for e in np.lexsort((cols, rows, -sims)):
        a, b = find(int(rows[e])), find(int(cols[e]))
        if a == b:
            continue
        sa = sources.get(a, {ordered[a].source})
        sb = sources.get(b, {ordered[b].source})
        if sa & sb:
            continue
        keep, drop = (a, b) if a < b else (b, a)
        parent[drop] = keep
        sources[keep] = sa | sb
        sources.pop(drop, None)
    while True:  # pointer jumping: every node points at its root
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return np.asarray(parent, dtype=np.int64)
        parent = grand


def cluster_items(
    items: Sequence[NewsItem], *, threshold: float, max_gap: timedelta
) -> list[Cluster]:
    """Group near-duplicates; every item is in exactly one cluster.

    Clusters are returned in the order of their representatives' :func:`representative_key`.
    """
    n = len(items)
    if n == 0:
        return []
    # Sort by time (ties by id) so chunks are time blocks and results never depend on input order.
    times_raw = np.array([i.published_at.timestamp() for i in items], dtype=np.float64)
    ids = np.array([i.id for i in items])
    order = np.lexsort((ids, times_raw))
    ordered = [items[k] for k in order]
    times = times_raw[order]
    gap = max_gap.total_seconds()
    features = similarity_features(ordered)
    rows, cols, sims = _similar_pairs(features, times, gap, threshold)
    parent = _merge(ordered, rows, cols, sims) if len(rows) else np.arange(n)
    clusters = []
    multi = np.flatnonzero(np.bincount(parent, minlength=n) > 1)
    groups: dict[int, list[NewsItem]] = {int(r): [] for r in multi}
    for x in np.flatnonzero(np.isin(parent, multi)):
        groups[int(parent[x])].append(ordered[x])
    for x in np.flatnonzero(~np.isin(parent, multi)):
        clusters.append(Cluster(ordered[x], ()))
    for members in groups.values():
        members.sort(key=representative_key)
        clusters.append(Cluster(members[0], tuple(members[1:])))
    clusters.sort(key=lambda c: representative_key(c.representative))
    return clusters
