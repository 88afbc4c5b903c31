"""Build the curation model from labelled content and the editors' corrections.

A labelled set is a folder like ``content/labelled/corpus-a/``: ``news.jsonl``, ``guides/``
and ``labels.json`` (``{"pairs": {item id: slug | null}, "clusters": [[ids]]}``, FORMAT.md).
Every ``issues/<id>/overrides.json`` adds what an editor decided: ``guide`` entries are pair
labels, ``merge`` pairs are same-story examples, ``split`` pairs different-story ones.

Fitting is plain maximum likelihood with an L2 penalty (scipy's L-BFGS from zeros), so the
same inputs always give the same model file. The feature subsets and penalties below were
chosen by leave-guides-out and cross-corpus validation (``newsletter curation eval --cv``,
``bench/results/curation.md``); fewer, sign-constrained features generalised better than
all of them.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from newsletter.curation.cluster_features import (
    CLUSTER_FEATURES,
    TRAINING_CANDIDATE_MIN,
    ItemSpace,
)
from newsletter.curation.model import (
    ACCEPT_FEATURES,
    ClusteringModel,
    CurationModel,
    Linear,
    PairingModel,
)
from newsletter.curation.pair_features import PAIR_FEATURES, PairFeaturizer
from newsletter.curation.pairing import accept_inputs
from newsletter.errors import InputError
from newsletter.models import Catalog

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
)
SAME_STORY_FEATURES: tuple[str, ...] = (
    "text",
    "topics",
    "gap",
    "no_topics",
    "text_no_topics",
    "names_no_topics",
)
NEGATIVE_FEATURES = frozenset({"gap", "same_source"})
"""Same-story features that can only count against a merge (weights bounded ≤ 0)."""
FREE_FEATURES = frozenset({"no_topics"})
"""Same-story features whose weight may take either sign (the others only count for)."""
RANK_L2 = 10.0
ACCEPT_L2 = 30.0
SAME_STORY_L2 = 1.0
MERGE_THRESHOLD = 0.28
ACCEPT_THRESHOLD = 0.5
TOPIC_DROPOUT = True
ACCEPT_DROPOUT = True
DROPOUT_SHARE = 1.0


@dataclass
class LabelledSet:
    """Content and what an editor decided about it."""

    name: str
    catalog: Catalog
    pairs: dict[str, str | None] = field(default_factory=dict)
    clusters: list[list[str]] = field(default_factory=list)
    splits: list[tuple[str, str]] = field(default_factory=list)
    digest: str = ""

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


def _fit(
    loss_grad: object, d: int, bounds: Sequence[tuple[float | None, float | None]] | None = None
) -> np.ndarray:
    from scipy.optimize import minimize  # only when training: costs ~0.1 s to import

    result = minimize(loss_grad, np.zeros(d), jac=True, method="L-BFGS-B", bounds=bounds)
    return np.asarray(result.x)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    scale = x.std(axis=0) + 1e-6 if len(x) else np.ones(x.shape[1])
    return (x - mean) / scale, mean, scale


def fit_rank(x: np.ndarray, y: np.ndarray, rows: np.ndarray, l2: float = RANK_L2) -> Linear:
    """Conditional logit over each item's candidates (items whose right guide is among them)."""
    cols = [PAIR_FEATURES.index(n) for n in RANK_FEATURES]
    n = int(rows.max()) + 1 if len(rows) else 0
    has = np.zeros(n)
    np.add.at(has, rows, y)
    keep = has[rows] > 0 if n else np.zeros(0, dtype=bool)
    z, mean, scale = _standardise(x[keep][:, cols].astype(np.float64))
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

    w = _fit(loss, len(cols)) if len(z) else np.zeros(len(cols))
    return Linear(
        features=RANK_FEATURES,
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        weights=tuple(w.tolist()),
    )


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    l2: float,
    negative: frozenset[str] = frozenset(),
) -> Linear:
    """L2-penalised logistic regression; weights of ``negative`` features bounded ≤ 0, others ≥ 0
    when ``negative`` is given (sign-constrained), free otherwise."""
    z, mean, scale = _standardise(x.astype(np.float64))
    d = z.shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        q = 1 / (1 + np.exp(-np.clip(z @ w[:-1] + w[-1], -50, 50)))
        ll = float((y * np.log(q + 1e-12) + (1 - y) * np.log(1 - q + 1e-12)).sum())
        g = np.r_[z.T @ (q - y) + l2 * w[:-1], (q - y).sum()]
        return -ll + l2 * float(w[:-1] @ w[:-1]) / 2, g

    bounds: list[tuple[float | None, float | None]] | None = None
    if negative:
        free: tuple[float | None, float | None] = (None, None)
        bounds = [
            free if n in FREE_FEATURES else (None, 0.0) if n in negative else (0.0, None)
            for n in names
        ]
        bounds.append(free)
    w = _fit(loss, d + 1, bounds)
    return Linear(
        features=names,
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        weights=tuple(w[:-1].tolist()),
        bias=float(w[-1]),
    )


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


def same_story_examples(
    sets: Sequence[LabelledSet], max_gap: timedelta
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every candidate item pair in sets that label clusters."""
    xs, ys = [], []
    for s in sets:
        labels = s.same_story()
        if not s.clusters and not labels:
            continue
        items = list(s.catalog.news)
        space = ItemSpace(items)
        rows, cols, _ = space.candidates(max_gap.total_seconds(), TRAINING_CANDIDATE_MIN)
        ids = [i.id for i in items]
        position = {i: k for k, i in enumerate(ids)}
        extra = [(position[a], position[b]) for (a, b) in labels if a in position and b in position]
        seen = set(zip(rows.tolist(), cols.tolist(), strict=True))
        add = [(min(a, b), max(a, b)) for a, b in extra if (min(a, b), max(a, b)) not in seen]
        if add:
            rows = np.r_[rows, [a for a, _ in add]].astype(np.int64)
            cols = np.r_[cols, [b for _, b in add]].astype(np.int64)
        if s.clusters:
            y = np.array(
                [
                    labels.get((min(ids[a], ids[b]), max(ids[a], ids[b])), False)
                    for a, b in zip(rows, cols, strict=True)
                ],
                dtype=np.float64,
            )
            keep = np.ones(len(rows), dtype=bool)
        else:  # corrections only: learn from the decided pairs, not from silence
            keys = [
                (min(ids[a], ids[b]), max(ids[a], ids[b])) for a, b in zip(rows, cols, strict=True)
            ]
            keep = np.array([k in labels for k in keys], dtype=bool)
            y = np.array([labels.get(k, False) for k in keys], dtype=np.float64)
        xs.append(space.features(rows[keep], cols[keep]))
        ys.append(y[keep])
    if not xs:
        return np.zeros((0, len(CLUSTER_FEATURES)), dtype=np.float32), np.zeros(0)
    return np.vstack(xs), np.concatenate(ys)


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
    sx, sy = same_story_examples([*sets, *bare], max_gap)
    if not sy.any():
        raise InputError("no labelled clusters to learn from (labels.json 'clusters' or merges)")
    cols = [CLUSTER_FEATURES.index(f) for f in SAME_STORY_FEATURES]
    same = fit_logistic(sx[:, cols], sy, SAME_STORY_FEATURES, SAME_STORY_L2, NEGATIVE_FEATURES)
    return CurationModel(
        trained_on=tuple(f"{s.name} {s.digest}".strip() for s in sets),
        examples={
            **counts,
            "pair_candidates": len(ex.y),
            "story_pairs": len(sy),
            "same_story_pairs": int(sy.sum()),
        },
        pairing=PairingModel(rank=rank, accept=accept, accept_threshold=ACCEPT_THRESHOLD),
        clustering=ClusteringModel(same_story=same, merge_threshold=MERGE_THRESHOLD),
    )
