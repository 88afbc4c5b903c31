"""Features of a pair of news items for the learned same-story model.

Two reports of one event share its specifics — words, names, numbers — and appear within
days of each other; two different stories about one company share the company. Each feature
measures one of those things on a 0-1 scale, with IDF over the items being clustered (times
each word's rarity in general English, ``newsletter.curation.rarity``), so it means the same
in any week. Candidate pairs come from a sparse product over the same vectors
restricted to items within ``max_gap`` of each other, so no n × n matrix is built.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from newsletter.curation.rarity import general_rarity
from newsletter.curation.text import STOP_WORDS, WORD_WITH_HYPHENS, count_matrix, idf_weights, weigh
from newsletter.curation.topics import normalise_topic
from newsletter.curation.vectors import row_dots, stem_counts
from newsletter.models import NewsItem

CLUSTER_FEATURES: tuple[str, ...] = (
    "text",  # headline + summary + topics cosine (stemmed TF-IDF)
    "title",  # headline cosine
    "names",  # cosine of capitalised words (names), case-folded
    "topics",  # Jaccard of the listed topics (0 when either lists none)
    "numbers",  # Jaccard of the numbers and amounts both mention
    "gap",  # hours between them ÷ 72
    "same_source",  # one outlet
    "no_topics",  # either item lists no topics (so "topics" says nothing)
    "text_no_topics",  # text × no_topics: how much the text must carry on its own
    "names_no_topics",  # names × no_topics: without topics, the names stand in for them
)
CANDIDATE_MIN = 0.08
"""Pairs whose text cosine is below this are never the same story (and never scored)."""
TRAINING_CANDIDATE_MIN = 0.05
"""Training also sees the easy negatives just below, so the model's odds stay calibrated."""
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CHUNK = 256


def _numbers(text: str) -> frozenset[str]:
    """Numbers a text mentions, normalised ("5,000" = "5000"); years and single digits skipped."""
    out = set()
    for raw in _NUMBER.findall(text):
        n = raw.replace(",", "")
        if len(n) <= 1 or (len(n) == 4 and n.startswith(("19", "20"))):
            continue
        out.add(n)
    return frozenset(out)


def _weights(counts: sp.csr_matrix, stems: Sequence[str]) -> np.ndarray:
    """A stem's weight: its IDF among these items times its rarity in general English
    (:mod:`newsletter.curation.rarity`), so words rare only because the week is small
    ("step", "look") do not outweigh an event's specifics."""
    weights: np.ndarray = idf_weights(counts) * general_rarity(stems)
    return weights


def _text(item: NewsItem) -> str:
    return f"{item.title}. {item.summary}. {'. '.join(item.topics)}"


class ItemSpace:
    """Vectors of the items being clustered; features for any pairs of them.

    Only the text vectors are built up front (they also find the candidate pairs); the
    others are built the first time a feature needs them.
    """

    def __init__(self, items: Sequence[NewsItem], background: Sequence[NewsItem] = ()) -> None:
        """``background``: more items of the same week whose words only count in the IDF
        (so a focus subset of a huge window weighs words as the whole window does)."""
        self.items = tuple(items)
        ids = {i.id for i in self.items}
        extra = [i for i in background if i.id not in ids]
        # Hyphenated names stay whole ("GPT-5", "MAI-Thinking-1"): the specifics of an event.
        counts, stems = stem_counts([_text(i) for i in (*self.items, *extra)], WORD_WITH_HYPHENS)
        self.text = weigh(counts[: len(self.items)], _weights(counts, stems))
        self.times = np.array([i.published_at.timestamp() for i in self.items], dtype=np.float64)

    @cached_property
    def title(self) -> sp.csr_matrix:
        titles, stems = stem_counts([i.title for i in self.items], WORD_WITH_HYPHENS)
        return weigh(titles, _weights(titles, stems)) if stems else titles

    @cached_property
    def names(self) -> sp.csr_matrix:
        docs = [
            [
                t.casefold()
                for t in WORD_WITH_HYPHENS.findall(_text(i))
                if t[0].isupper() and t.lower() not in STOP_WORDS
            ]
            for i in self.items
        ]
        counts, _ = count_matrix(docs)
        return weigh(counts, idf_weights(counts))

    @cached_property
    def numbers(self) -> list[frozenset[str]]:
        return [_numbers(f"{i.title} {i.summary}") for i in self.items]

    @cached_property
    def topics(self) -> list[frozenset[str]]:
        return [frozenset(normalise_topic(t) for t in i.topics) for i in self.items]

    def _set_matrix(self, name: str) -> sp.csr_matrix:
        """Items × members 0/1 matrix of the numbers or topics each item names."""
        sets = self.numbers if name == "numbers" else self.topics
        counts, _ = count_matrix([sorted(s) for s in sets])
        counts.data[:] = 1
        return counts

    @cached_property
    def sources(self) -> np.ndarray:
        return np.unique(np.array([i.source for i in self.items]), return_inverse=True)[1]

    def candidates(
        self, max_gap: float, min_text: float = CANDIDATE_MIN
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs (i < j) within ``max_gap`` seconds whose text cosine reaches ``min_text``,
        and that cosine (the ``text`` feature, so it is never computed twice).

        Rows are visited in time order a chunk at a time; each chunk is multiplied only with
        the items that follow it within the gap.
        """
        n = len(self.items)
        order = np.argsort(self.times, kind="stable")
        times = self.times[order]
        text = self.text[order]
        out_r: list[np.ndarray] = []
        out_c: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            hi = int(np.searchsorted(times, times[stop - 1] + max_gap, side="right"))
            block = (text[start:stop] @ text[start:hi].T).tocoo()
            r = block.row.astype(np.int64) + start
            c = block.col.astype(np.int64) + start
            keep = (c > r) & (block.data >= min_text) & (times[c] - times[r] <= max_gap)
            out_r.append(order[r[keep]])
            out_c.append(order[c[keep]])
            out_s.append(block.data[keep].astype(np.float32))
        if not out_r:
            none = np.zeros(0, dtype=np.int64)
            return none, none, np.zeros(0, dtype=np.float32)
        r, c = np.concatenate(out_r), np.concatenate(out_c)
        return np.minimum(r, c), np.maximum(r, c), np.concatenate(out_s)

    def features(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        names: Sequence[str] = CLUSTER_FEATURES,
        text: np.ndarray | None = None,
    ) -> np.ndarray:
        """One row per pair (rows[k], cols[k]) with the ``names`` features, in that order.

        ``text``: the pairs' text cosines when already known (from :meth:`candidates`).
        """
        known = {} if text is None else {"text": text}
        columns = [self._feature(n, rows, cols, known) for n in names]
        return np.column_stack(columns).astype(np.float32)

    def _feature(
        self, name: str, rows: np.ndarray, cols: np.ndarray, known: dict[str, np.ndarray]
    ) -> np.ndarray:
        if name in known:
            return known[name]
        if name in ("text", "title", "names"):
            vectors = getattr(self, name)
            known[name] = row_dots(vectors, vectors, rows, cols)
            return known[name]
        if name in ("numbers", "topics"):
            sets = self._set_matrix(name)
            both = row_dots(sets, sets, rows, cols)
            sizes = np.asarray(sets.sum(axis=1)).ravel()
            union = sizes[rows] + sizes[cols] - both
            filled = (sizes[rows] > 0) & (sizes[cols] > 0)
            return np.where(filled, both / np.maximum(union, 1), 0.0).astype(np.float32)
        if name == "gap":
            gap = np.abs(self.times[rows] - self.times[cols]) / (72 * 3600)
            return np.asarray(gap, dtype=np.float32)
        if name in ("no_topics", "text_no_topics", "names_no_topics"):
            bare = np.array([not t for t in self.topics])
            none = np.asarray(bare[rows] | bare[cols], dtype=np.float32)
            if name == "no_topics":
                return none
            base = np.zeros(len(rows), dtype=np.float32)
            bare_pairs = none > 0  # only where it counts: cheaper on a big week
            if not bare_pairs.any():
                return base
            base[bare_pairs] = self._feature(
                name.removesuffix("_no_topics"),
                rows[bare_pairs],
                cols[bare_pairs],
                {k: v[bare_pairs] for k, v in known.items()},
            )
            return base
        if name == "same_source":
            return np.asarray(self.sources[rows] == self.sources[cols], dtype=np.float32)
        raise KeyError(name)
