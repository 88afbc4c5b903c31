"""Build the curation model from labelled sets (``newsletter.curation.labelled_set``): the
shipped labelled folders and the editors' corrections.

This module fits the pairing models (rank and accept); ``newsletter.curation.story_training``
fits the clustering one. Fitting is plain maximum likelihood with an L2 penalty (scipy's
L-BFGS from zeros, ``newsletter.curation.fitting``), so the same inputs always give the same
model file. The feature subsets and penalties below were chosen by leave-guides-out and
cross-corpus validation (``newsletter curation eval --cv``, ``bench/results/curation.md``);
fewer, sign-constrained features generalised better than all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from newsletter.curation.fitting import fit_logistic, minimise, standardise
from newsletter.curation.labelled_set import LabelledSet, without_topics
from newsletter.curation.model import ACCEPT_FEATURES, CurationModel, Linear, PairingModel
from newsletter.curation.pair_features import PAIR_FEATURES, PairFeaturizer
from newsletter.curation.pairing import accept_inputs
from newsletter.curation.story_training import fit_clustering
from newsletter.errors import InputError

RANK_FEATURES: tuple[str, ...] = (
    "all_subject",
    "title_subject",
    "title_all",
    "all_takeaways",
    "topics",
    "listed",
    "head_title",
    "head_text",
    "words_all",
    "theme_words",
    "gap_all",
    "gap_subject",
    "gap_title",
    "gap_topics",
    "gap_words",
    "lead_topic",
)
RANK_L2 = 10.0
ACCEPT_L2 = 30.0
ACCEPT_THRESHOLD = 0.5
TOPIC_DROPOUT = True
ACCEPT_DROPOUT = True
DROPOUT_SHARE = 1.0


def fit_rank(x: np.ndarray, y: np.ndarray, rows: np.ndarray, l2: float = RANK_L2) -> Linear:
    """Conditional logit over each item's candidates (items whose right guide is among them)."""
    cols = [PAIR_FEATURES.index(n) for n in RANK_FEATURES]
    n = int(rows.max()) + 1 if len(rows) else 0
    has = np.zeros(n)
    np.add.at(has, rows, y)
    keep = has[rows] > 0 if n else np.zeros(0, dtype=bool)
    z, mean, scale = standardise(x[keep][:, cols].astype(np.float64))
    yk, rk = y[keep], rows[keep]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ w
        peak = np.full(n, -np.inf)
        np.maximum.at(peak, rk, s)
        e = np.exp(s - peak[rk])
        total = np.zeros(n)
        np.add.at(total, rk, e)
        used = total > 0
        ll = float((yk * s).sum() - (np.log(total[used]) + peak[used]).sum())
        p = e / total[rk]
        return -ll + l2 * float(w @ w) / 2, z.T @ (p - yk) + l2 * w

    w = minimise(loss, len(cols)) if len(z) else np.zeros(len(cols))
    return Linear(
        features=RANK_FEATURES,
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        weights=tuple(w.tolist()),
    )


@dataclass
class PairExamples:
    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray
    labelled: np.ndarray
    """Per item: it has a guide label (True) or is labelled "no guide" (False)."""
    has_topics: np.ndarray


def pair_examples(
    sets: Sequence[LabelledSet], aliases: Mapping[str, str] | None = None
) -> PairExamples:
    """Candidate (item, guide) features of every labelled item, stacked across sets."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    rs: list[np.ndarray] = []
    labelled: list[bool] = []
    topical: list[bool] = []
    offset = 0
    for s in sets:
        items = [i for i in s.catalog.news if i.id in s.pairs]
        if not items or not s.catalog.guides:
            continue
        fz = PairFeaturizer(s.catalog.guides, aliases)
        rows, cols = fz.candidates(items)
        slugs = [g.slug for g in s.catalog.guides]
        xs.append(fz.features(items, rows, cols))
        ys.append(
            np.array(
                [s.pairs[items[r].id] == slugs[c] for r, c in zip(rows, cols, strict=True)],
                dtype=np.float64,
            )
        )
        rs.append(rows + offset)
        labelled.extend(s.pairs[i.id] is not None for i in items)
        topical.extend(bool(i.topics) for i in items)
        offset += len(items)
    if not xs:
        empty = np.zeros((0, len(PAIR_FEATURES)), dtype=np.float32)
        none = np.zeros(0, bool)
        return PairExamples(empty, np.zeros(0), np.zeros(0, dtype=np.int64), none, none)
    return PairExamples(
        np.vstack(xs),
        np.concatenate(ys),
        np.concatenate(rs),
        np.array(labelled, dtype=bool),
        np.array(topical, dtype=np.float64),
    )


def train(
    sets: Sequence[LabelledSet],
    *,
    aliases: Mapping[str, str] | None = None,
    max_gap: timedelta = timedelta(hours=72),
) -> CurationModel:
    """Fit the pairing and same-story models on the labelled sets (deterministic).

    Each set is also learned from once more with every item's topics removed: real feeds
    often carry none, and a model that only ever saw topics would lean on them.
    """
    bare = [without_topics(s, DROPOUT_SHARE) for s in sets] if TOPIC_DROPOUT else []
    ex = pair_examples(sets, aliases)
    if not ex.y.any():
        raise InputError("no labelled pairings to learn from (labels.json 'pairs' or overrides)")
    rank = fit_rank(ex.x, ex.y, ex.rows, RANK_L2)
    counts = {"items": len(ex.labelled), "paired_items": int(ex.labelled.sum())}
    if ACCEPT_DROPOUT and bare:
        ex = pair_examples([*sets, *bare], aliases)
    n = len(ex.labelled)
    score = rank.score(ex.x, PAIR_FEATURES)
    inputs, top, _ = accept_inputs(ex.x, score, ex.rows, ex.has_topics)
    right = np.array(
        [bool(ex.labelled[i]) and top[i] >= 0 and ex.y[top[i]] == 1 for i in range(n)],
        dtype=np.float64,
    )
    accept = fit_logistic(inputs, right, ACCEPT_FEATURES, ACCEPT_L2)
    clustering, story_counts = fit_clustering(sets, bare, max_gap)
    return CurationModel(
        trained_on=tuple(f"{s.name} {s.digest}".strip() for s in sets),
        examples={**counts, "pair_candidates": len(ex.y), **story_counts},
        pairing=PairingModel(rank=rank, accept=accept, accept_threshold=ACCEPT_THRESHOLD),
        clustering=clustering,
    )
