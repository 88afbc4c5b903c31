"""Which items an issue must look at closely, so assembling stays fast on huge catalogs.

Only the best-ranked stories can make an issue. When the window holds more than
``FULL_LIMIT`` items, the exact clustering runs on a *focus* set instead of everything: the
``top`` items by rank that meet ``min_score`` (plus pins and earlier-featured items), and every
item that could be their near-duplicate, found by cheap vectorised blocking (headline TF-IDF
cosine ≥ ``TITLE_BLOCK`` or IDF-weighted topic cosine ≥ ``TOPIC_BLOCK``, within the time gap).
Below the limit every item is clustered.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp

from newsletter.curation.text import count_matrix, idf_weights, l2_normalize, tfidf
from newsletter.models import NewsItem

FULL_LIMIT = 5_000
TITLE_BLOCK = 0.2
TOPIC_BLOCK = 0.5
_FOCUS_SLICE = 16


def rank_array(
    items: Sequence[NewsItem], slot: datetime, half_life: timedelta
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, publication times (epoch seconds) and recency-weighted ranks, as arrays."""
    scores = np.fromiter((i.score for i in items), dtype=np.float64, count=len(items))
    times = np.fromiter(
        (i.published_at.timestamp() for i in items), dtype=np.float64, count=len(items)
    )
    age = np.maximum(slot.timestamp() - times, 0.0)
    hl = max(half_life.total_seconds(), 1.0)
    return scores, times, scores * (1.0 + 0.5 ** (age / hl)) / 2.0


def topic_matrix(items: Sequence[NewsItem]) -> sp.csr_matrix:
    """IDF-weighted, L2-normalised items × case-folded topics."""
    counts, vocabulary = count_matrix([i.topics for i in items])
    folded = {name: name.casefold().strip() for name in vocabulary}
    index = {f: k for k, f in enumerate(sorted(set(folded.values())))}
    cols = np.fromiter((index[folded[n]] for n in vocabulary), dtype=np.int64, count=len(folded))
    merge = sp.csr_matrix(
        (np.ones(len(cols), dtype=np.float32), (np.arange(len(cols)), cols)),
        shape=(len(cols), max(len(index), 1)),
    )
    merged = (counts @ merge).tocsr()
    merged.data[:] = 1
    return l2_normalize(merged.multiply(idf_weights(merged)).tocsr())


def focus_items(
    items: Sequence[NewsItem],
    *,
    slot: datetime,
    half_life: timedelta,
    min_score: float,
    top: int,
    max_gap: timedelta,
    keep: Collection[str] = (),
) -> list[NewsItem]:
    """The items worth clustering exactly (all of them when there are few), in input order."""
    n = len(items)
    if n <= FULL_LIMIT:
        return list(items)
    scores, times, ranks = rank_array(items, slot, half_life)
    ids = np.array([i.id for i in items])
    order = np.lexsort((ids, -ranks))
    qualifying = order[scores[order] >= min_score][:top]
    keep_set = set(keep)
    forced = np.array([k for k, i in enumerate(items) if i.id in keep_set], dtype=np.int64)
    focus = np.union1d(qualifying, forced).astype(np.int64)
    titles = tfidf([i.title for i in items])
    topics = topic_matrix(items)
    found: list[np.ndarray] = [focus]
    gap = max_gap.total_seconds()
    titles_t = titles.T.tocsr()
    topics_t = topics.T.tocsr()
    for s in range(0, len(focus), _FOCUS_SLICE):
        rows = focus[s : s + _FOCUS_SLICE]
        for matrix, transposed, bound in (
            (titles, titles_t, TITLE_BLOCK),
            (topics, topics_t, TOPIC_BLOCK),
        ):
            near = (matrix[rows] @ transposed).tocoo()
            hit = near.data >= bound
            src, dst = rows[near.row[hit]], near.col[hit].astype(np.int64)
            found.append(dst[np.abs(times[dst] - times[src]) <= gap])
    chosen = np.unique(np.concatenate(found))
    return [items[k] for k in chosen]


WORD_SAMPLE = 2_000
"""Window items that set the clustering's IDF on the focus path (enough for stable weights)."""


def word_sample(items: Sequence[NewsItem], limit: int = WORD_SAMPLE) -> Sequence[NewsItem]:
    """Items whose words set the clustering's IDF: all of them up to ``limit``, else a fixed
    pseudo-random ``limit`` of them (by a hash of the id: the same window, the same sample)."""
    if len(items) <= limit:
        return items
    crc = np.fromiter((zlib.crc32(i.id.encode()) for i in items), dtype=np.int64, count=len(items))
    # Only the items at or below the limit-th hash can be chosen: sort just those (exactly as
    # sorting all of them by (hash, id) would).
    cut = np.partition(crc, limit - 1)[limit - 1]
    near = [items[k] for k in np.flatnonzero(crc <= cut).tolist()]
    return sorted(near, key=lambda i: (zlib.crc32(i.id.encode()), i.id))[:limit]
