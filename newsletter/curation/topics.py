"""Guide topics named by news items: case-folded phrases, optional editor aliases, IDF weights.

An item names a topic when it lists it (or an alias of it) or its title, summary or topics
contain the phrase. Topics are weighted by IDF over the guides: a topic many guides share
says little. ``curation.topic_aliases`` is an editor's tool ("chatgpt" means OpenAI); the
learned scores never depend on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from newsletter.curation.text import count_matrix, l2_normalize, ngrams, tokenize
from newsletter.models import Guide, NewsItem

_WORD = re.compile(r"\w+")


def normalise_topic(topic: str, aliases: Mapping[str, str] | None = None) -> str:
    """Case-fold, keep word characters, and map an alias to its canonical topic."""
    key = " ".join(_WORD.findall(topic.casefold()))
    if aliases:
        return aliases.get(key, key)
    return key


class TopicMatcher:
    """The guides' topics as phrases; which of them each item names."""

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
        self.names = [canonical[t] for t in self.topics]
        self._index = {t: i for i, t in enumerate(self.topics)}
        phrases = sorted(set(self.topics) | set(folded))
        self._phrases = phrases
        rows = np.arange(len(phrases))
        cols = np.array([self._index[folded.get(p, p)] for p in phrases], dtype=np.int64)
        self._merge = sp.csr_matrix(
            (np.ones(len(phrases), dtype=np.float32), (rows, cols)),
            shape=(len(phrases), len(self.topics)),
        )
        self._longest = max((len(p.split()) for p in phrases), default=1)
        self._phrase_index = {p: i for i, p in enumerate(phrases)}
        guide_topics = self._hits(
            [". ".join(normalise_topic(t, folded) for t in g.topics) for g in self.guides]
        )
        df = np.asarray(guide_topics.sum(axis=0)).ravel()
        self.idf = (np.log((1 + len(self.guides)) / (1 + df)) + 1).astype(np.float32)
        self.guide_topics = guide_topics
        self._guide_vec = l2_normalize(guide_topics.multiply(self.idf).tocsr())
        self._guide_sets = [{normalise_topic(t, folded) for t in g.topics} for g in self.guides]

    def _hits(self, texts: Sequence[str]) -> sp.csr_matrix:
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
                    cols.append(self._index[self.aliases[key]])
                else:
                    plain.append(topic)
            texts.append(f"{item.title}. {item.summary}. {'. '.join(plain)}")
        hits = self._hits(texts)
        if rows:
            aliased = sp.csr_matrix(
                (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=hits.shape
            )
            hits = (hits + aliased).tocsr()
            hits.data[:] = 1
        return hits

    def similarity(self, items: Sequence[NewsItem]) -> sp.csr_matrix:
        """Items × guides: IDF-weighted cosine of the topics the item names."""
        if not self.guides or not items:
            return sp.csr_matrix((len(items), len(self.guides)), dtype=np.float32)
        topics = l2_normalize(self.item_topics(items).multiply(self.idf).tocsr())
        return (topics @ self._guide_vec.T).tocsr()

    def listed_share(
        self, items: Sequence[NewsItem], rows: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        """Per pair: the share of the item's listed topics that are topics of the guide."""
        listed = [{normalise_topic(t, self.aliases) for t in i.topics} for i in items]
        out = np.zeros(len(rows), dtype=np.float32)
        for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
            if listed[r]:
                out[k] = len(listed[r] & self._guide_sets[c]) / len(listed[r])
        return out

    def lead_position(
        self, items: Sequence[NewsItem], rows: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        """Per pair: 1 / (1 + k) for the item's first listed topic that is a topic of the
        guide, the k-th (0 when none is): feeds list an item's main subject first, so a guide
        named by the first topic is the subject and one named by the last is in passing."""
        listed = [[normalise_topic(t, self.aliases) for t in i.topics] for i in items]
        out = np.zeros(len(rows), dtype=np.float32)
        for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
            guide = self._guide_sets[c]
            first = next((j for j, t in enumerate(listed[r]) if t in guide), None)
            if first is not None:
                out[k] = 1 / (1 + first)
        return out

    def shared_names(self, item: NewsItem, guide: int) -> list[str]:
        """Display names of the topics an item shares with a guide, rarest first."""
        shared = self.item_topics([item]).multiply(self.guide_topics[guide]).tocsr()
        cols = sorted(shared.indices.tolist(), key=lambda c: (-float(self.idf[c]), c))
        return [self.names[c] for c in cols]
