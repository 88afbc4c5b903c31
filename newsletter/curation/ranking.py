"""Ranking and selection: recency-weighted scores, min_score, max_stories, source cap, MMR.

- rank = representative score × (1 + 0.5 ** (age at the slot / ``curation.recency_half_life``))/2:
  recency can at most halve a story's weight, so the editorial score still leads; then
  × (1 + ``COVERAGE_BONUS`` per other source that reported the story, up to ``COVERAGE_MAX``
  sources): a story many outlets covered is bigger news.
- A story qualifies when its representative's editorial score ≥ the edition's ``min_score``.
- Selection is MMR: each pick maximises ``(1 − diversity) × rank/top_rank − diversity ×
  (max similarity to stories already picked)``, where similarity is the mean of text and topic
  cosine; at most ``curation.source_cap`` stories per source.
- Pinned items are always included, first-class: they ignore ``min_score``, the source cap and
  the history of earlier issues, and count toward ``max_stories`` (more pins than that: all
  pins are kept). An exclusion beats a pin. The final order is by rank (ties: id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp

from newsletter.curation.clustering import Cluster
from newsletter.curation.text import item_text, l2_normalize, tfidf

COVERAGE_BONUS = 0.05
COVERAGE_MAX = 4


@dataclass(frozen=True)
class Ranked:
    """A candidate story with its rank score."""

    cluster: Cluster
    rank: float
    pinned: bool = False


def recency_rank(score: float, published: datetime, slot: datetime, half_life: timedelta) -> float:
    """Score decayed by age at the slot (no boost for items after the slot)."""
    age = max((slot - published).total_seconds(), 0.0)
    hl = max(half_life.total_seconds(), 1.0)
    return float(score * (1.0 + 0.5 ** (age / hl)) / 2.0)


def rank_clusters(
    clusters: Sequence[Cluster], slot: datetime, half_life: timedelta, pinned: frozenset[str]
) -> list[Ranked]:
    """Rank every story, best first (ties: id)."""
    out = []
    for c in clusters:
        base = recency_rank(c.representative.score, c.representative.published_at, slot, half_life)
        others = len({m.source for m in c.others} - {c.representative.source})
        bonus = 1.0 + COVERAGE_BONUS * min(others, COVERAGE_MAX)
        out.append(Ranked(c, round(base * bonus, 6), c.representative.id in pinned))
    out.sort(key=lambda r: (-r.rank, r.cluster.representative.id))
    return out


def _similarity(candidates: Sequence[Ranked]) -> np.ndarray:
    reps = [r.cluster.representative for r in candidates]
    text = tfidf([item_text(i) for i in reps])
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for k, item in enumerate(reps):
        for t in sorted({t.casefold() for t in item.topics}):
            rows.append(k)
            cols.append(vocab.setdefault(t, len(vocab)))
    topics = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(reps), max(len(vocab), 1))
    )
    topics = l2_normalize(topics)
    sim = 0.5 * (text @ text.T).toarray() + 0.5 * (topics @ topics.T).toarray()
    return np.asarray(sim, dtype=np.float64)


def select(
    ranked: Sequence[Ranked],
    *,
    max_stories: int,
    min_score: float,
    source_cap: int,
    diversity: float,
) -> list[Ranked]:
    """Pick the issue's stories: pins first, then MMR over qualifying stories; reading order."""
    pins = [r for r in ranked if r.pinned]
    pool = [r for r in ranked if not r.pinned and r.cluster.representative.score >= min_score]
    # Only the best few can ever be chosen: bound the MMR work whatever the catalog size.
    pool = pool[: max(max_stories * 10, 50)]
    chosen = list(pins)
    per_source: dict[str, int] = {}
    for r in pins:
        src = r.cluster.representative.source
        per_source[src] = per_source.get(src, 0) + 1
    candidates = pins + pool
    if len(chosen) < max_stories and pool:
        sim = _similarity(candidates)
        top = max((r.rank for r in candidates), default=1.0) or 1.0
        rel = np.array([r.rank / top for r in candidates])
        picked = list(range(len(pins)))
        available = [k for k in range(len(pins), len(candidates))]
        while len(chosen) < max_stories and available:
            best_k, best_v = -1, -np.inf
            for k in available:
                src = candidates[k].cluster.representative.source
                if per_source.get(src, 0) >= source_cap:
                    continue
                penalty = max((sim[k, p] for p in picked), default=0.0)
                value = (1 - diversity) * rel[k] - diversity * penalty
                if value > best_v + 1e-12:
                    best_k, best_v = k, value
            if best_k < 0:
                break
            available.remove(best_k)
            picked.append(best_k)
            chosen.append(candidates[best_k])
            src = candidates[best_k].cluster.representative.source
            per_source[src] = per_source.get(src, 0) + 1
    chosen.sort(key=lambda r: (-r.rank, r.cluster.representative.id))
    return chosen
