"""Guide pairing: the most relevant guide for each story, or none, with a human reason.

Relevance = ``TOPIC_WEIGHT`` × topic cosine + (1 − ``TOPIC_WEIGHT``) × text cosine (equal
weights: neither signal is trusted over the other), where
- topics are the guides' topics, case-folded and mapped through ``curation.topic_aliases``;
  an item has a topic when it lists it (or an alias of it) or its title/summary/topics name
  it; topics are weighted by IDF over the guides (a topic many guides share says little);
- text is TF-IDF (vocabulary and IDF from the guides) between the item (title, summary,
  topics) and the guide (title, TL;DR, takeaways, topics, and the first ``BODY_CHARS``
  characters of the body).
Below ``curation.min_pair_relevance`` no guide is paired. Both matrices are built once per
index; scores for all items × guides are one sparse product.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from newsletter.curation.text import (
    count_matrix,
    drop_stop_words,
    idf_weights,
    l2_normalize,
    ngrams,
    tokenize,
    weigh,
    without_stop_words,
)
from newsletter.models import Guide, GuideRef, NewsItem

TOPIC_WEIGHT = 0.5
BODY_CHARS = 6000
_WORD = re.compile(r"\w+")


def normalise_topic(topic: str, aliases: Mapping[str, str] | None = None) -> str:
    """Case-fold, keep word characters, and map an alias to its canonical topic."""
    key = " ".join(_WORD.findall(topic.casefold()))
    if aliases:
        return aliases.get(key, key)
    return key


def _guide_text(guide: Guide) -> str:
    topics = ". ".join(guide.topics)
    body = guide.body
    if len(body) > BODY_CHARS:  # the lead sections say what a guide is about; cost stays bounded
        body = body[: body.rfind(" ", 0, BODY_CHARS) + 1 or BODY_CHARS]
    return "\n".join([guide.title, guide.title, guide.tldr, *guide.takeaways, topics, topics, body])


def _item_text(item: NewsItem) -> str:
    return f"{item.title}. {item.summary}. {'. '.join(item.topics)}"


@dataclass(frozen=True)
class Pairing:
    """The best guide for one item (index into the index's guides) and its relevance."""

    guide: int | None
    relevance: float


class GuideIndex:
    """Vectorised index of the guides; score any batch of items against all of them."""

    def __init__(self, guides: Sequence[Guide], aliases: Mapping[str, str] | None = None) -> None:
        self.guides = tuple(guides)
        folded = {normalise_topic(k): normalise_topic(v) for k, v in (aliases or {}).items()}
        self.aliases = folded
        canonical: dict[str, str] = {}  # normalised topic -> display name (first guide's spelling)
        for guide in self.guides:
            for topic in guide.topics:
                canonical.setdefault(normalise_topic(topic, folded), topic.strip())
        for target in sorted(set(folded.values())):
            canonical.setdefault(target, target)
        self.topics = sorted(canonical)
        self.topic_names = [canonical[t] for t in self.topics]
        topic_index = {t: i for i, t in enumerate(self.topics)}
        self._topic_index = topic_index
        phrases = sorted(set(self.topics) | set(folded))
        self._phrases = phrases
        rows = np.arange(len(phrases))
        cols = np.array([topic_index[folded.get(p, p)] for p in phrases], dtype=np.int64)
        self._merge = sp.csr_matrix(
            (np.ones(len(phrases), dtype=np.float32), (rows, cols)),
            shape=(len(phrases), len(self.topics)),
        )
        self._longest = max((len(p.split()) for p in phrases), default=1)
        self._phrase_index = {p: i for i, p in enumerate(phrases)}
        guide_topics = self._topic_hits(
            [". ".join(normalise_topic(t, folded) for t in g.topics) for g in self.guides]
        )
        df = np.asarray(guide_topics.sum(axis=0)).ravel()
        self._idf = (np.log((1 + len(self.guides)) / (1 + df)) + 1).astype(np.float32)
        self._guide_topics = guide_topics
        self._guide_topic_vec = l2_normalize(guide_topics.multiply(self._idf).tocsr())
        counts, self._text_vocab = without_stop_words(
            *count_matrix(tokenize(_guide_text(g) for g in self.guides))
        )
        self._text_idf = idf_weights(counts)
        self._guide_text = weigh(counts, self._text_idf)
        self._terms = list(self._text_vocab)

    def _text_vectors(self, texts: Sequence[str]) -> sp.csr_matrix:
        counts, _ = count_matrix(drop_stop_words(tokenize(texts)), self._text_vocab)
        return weigh(counts, self._text_idf)

    def _topic_hits(self, texts: Sequence[str]) -> sp.csr_matrix:
        if not self._phrases:
            return sp.csr_matrix((len(texts), 0), dtype=np.float32)
        grams = ngrams(tokenize(texts), self._longest)
        counts, _ = count_matrix(grams, self._phrase_index)
        hits = (counts @ self._merge).tocsr()
        hits.data[:] = 1
        return hits

    def item_topics(self, items: Sequence[NewsItem]) -> sp.csr_matrix:
        """Binary items × topics: topics named in the title, summary or listed topics.

        A listed topic that is an alias stands for its canonical topic only (its words are
        not matched again, so "Copilot" → "GitHub Copilot" does not also mean "GitHub").
        """
        texts: list[str] = []
        rows: list[int] = []
        cols: list[int] = []
        for k, item in enumerate(items):
            plain = []
            for topic in item.topics:
                key = normalise_topic(topic)
                if key in self.aliases:
                    rows.append(k)
                    cols.append(self._topic_index[self.aliases[key]])
                else:
                    plain.append(topic)
            texts.append(f"{item.title}. {item.summary}. {'. '.join(plain)}")
        hits = self._topic_hits(texts)
        if rows:
            aliased = sp.csr_matrix(
                (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=hits.shape
            )
            hits = (hits + aliased).tocsr()
            hits.data[:] = 1
        return hits

    def relevance(self, items: Sequence[NewsItem]) -> sp.csr_matrix:
        """Sparse items × guides relevance in [0, 1]."""
        if not self.guides or not items:
            return sp.csr_matrix((len(items), len(self.guides)), dtype=np.float32)
        topics = l2_normalize(self.item_topics(items).multiply(self._idf).tocsr())
        topic_sim = topics @ self._guide_topic_vec.T
        text = self._text_vectors([_item_text(i) for i in items])
        text_sim = text @ self._guide_text.T
        return (topic_sim * TOPIC_WEIGHT + text_sim * (1 - TOPIC_WEIGHT)).tocsr()

    def best(self, items: Sequence[NewsItem], min_relevance: float) -> list[Pairing]:
        """The single most relevant guide per item (ties: guide order), or None below threshold."""
        rel = self.relevance(items)
        if rel.shape[1] == 0:
            return [Pairing(None, 0.0) for _ in items]
        dense_best = np.asarray(rel.argmax(axis=1)).ravel()
        values = np.asarray(rel.max(axis=1).todense()).ravel()
        return [
            Pairing(int(g) if v >= min_relevance and v > 0 else None, round(float(v), 4))
            for g, v in zip(dense_best, values, strict=True)
        ]

    def reason(self, item: NewsItem, guide_index: int) -> str:
        """A short human reason for pairing ``item`` with a guide."""
        shared = self.item_topics([item]).multiply(self._guide_topics[guide_index]).tocsr()
        cols = sorted(shared.indices.tolist(), key=lambda c: (-float(self._idf[c]), c))
        if cols:
            names = [self.topic_names[c] for c in cols[:3]]
            return f"shares topics {', '.join(names)}"
        text = self._text_vectors([_item_text(item)])
        contrib = text.multiply(self._guide_text[guide_index]).tocsr()
        order = np.lexsort((contrib.indices, -contrib.data))[:3]
        words = [str(self._terms[contrib.indices[k]]) for k in order]
        if words:
            return f"about the same subject: {', '.join(words)}"
        return "closest guide by subject"

    def guide_ref(self, item: NewsItem, guide_index: int, relevance: float) -> GuideRef:
        guide = self.guides[guide_index]
        return GuideRef(
            slug=guide.slug,
            title=guide.title,
            url=guide.url,
            reason=self.reason(item, guide_index),
            level=guide.level,
            relevance=round(relevance, 4),
        )

    def assign_once(
        self, items: Sequence[NewsItem], min_relevance: float
    ) -> list[tuple[int, float] | None]:
        """Pair each item with a guide, each guide at most once: greedily by relevance.

        A story that loses its best guide takes its next best above the threshold. Ties go
        to the earlier story, then the earlier guide.
        """
        out: list[tuple[int, float] | None] = [None] * len(items)
        rel = self.relevance(items).tocoo()
        keep = rel.data >= max(min_relevance, 1e-12)
        r, c, v = rel.row[keep], rel.col[keep], rel.data[keep]
        used: set[int] = set()
        for k in np.lexsort((c, r, -np.round(v.astype(np.float64), 6))):
            i, g = int(r[k]), int(c[k])
            if out[i] is None and g not in used:
                out[i] = (g, float(v[k]))
                used.add(g)
        return out
