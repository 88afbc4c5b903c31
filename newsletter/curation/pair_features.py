"""Features of an (item, guide) pair that mean the same thing for any guide.

The learned pairing model (``newsletter.curation.model``) never sees a guide's name. It sees
how an item's words meet each of a guide's fields, whether the guide's *subject* (its title
head and first topic) or only a passing entity is named, whether the guide is about an entity
(a company, a product) or a theme (regulation, chips, security) and, for a theme guide, how
well the item's ordinary words — what happened, not who — match it; and how each score
compares with the item's best guide. So a model trained on some guides scores guides it has
never seen, which is what leave-guides-out cross-validation measures.

Vocabulary and IDF come from the guides' whole text (what tells one guide from the others),
so the features do not depend on which news happens to be in the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from newsletter.curation.topics import TopicMatcher
from newsletter.curation.vectors import FieldSpace, restrict, row_dots, stems
from newsletter.models import Guide, NewsItem

BODY_CHARS = 6000
CANDIDATES = 8
"""Guides scored per item: the best by whole-text similarity, plus any sharing a topic."""
_CHUNK = 2048

PAIR_FEATURES: tuple[str, ...] = (
    "all_all",  # item title+summary+topics · guide whole text
    "all_subject",  # item text · guide title, TL;DR and topics
    "title_subject",  # item headline · guide title, TL;DR and topics
    "title_all",  # item headline · guide whole text
    "all_body",  # item text · guide body
    "all_takeaways",  # item text · guide takeaways
    "topics",  # IDF-weighted cosine of the guide topics the item names
    "listed",  # share of the item's own topics that are topics of the guide
    "lead_topic",  # 1 / (1 + k): the item's k-th listed topic is the first that is the guide's
    "head_title",  # IDF share of the guide's subject words found in the headline
    "head_text",  # ... found anywhere in the item
    "words_all",  # item text · guide text on ordinary words only (what happened, not who)
    "names_all",  # ... on names only (who)
    "entity_guide",  # the guide is about a named entity (company, product), not a theme
    "entity_head_title",  # entity_guide × head_title
    "theme_words",  # (1 − entity_guide) × words_all: a theme guide matched by what happened
    "gap_all",  # all_all − the item's best all_all (≤ 0)
    "gap_subject",  # all_subject − best
    "gap_title",  # title_subject − best
    "gap_topics",  # topics − best
    "gap_words",  # words_all − best
    "gap_lead",  # lead_topic − best
)


def _clip(body: str) -> str:
    if len(body) <= BODY_CHARS:
        return body
    return body[: body.rfind(" ", 0, BODY_CHARS) + 1 or BODY_CHARS]


def item_text(item: NewsItem) -> str:
    """What an item says: headline, summary and listed topics."""
    return f"{item.title}. {item.summary}. {'. '.join(item.topics)}"


def source_gap(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Each value minus the largest value of its row (item): 0 for the item's best pair."""
    best = np.full(n, -np.inf, dtype=np.float64)
    np.maximum.at(best, rows, values)
    gap: np.ndarray = (values - best[rows]).astype(np.float32)
    return gap


class PairFeaturizer:
    """Field vectors of a set of guides, built once; features for any items against them."""

    def __init__(self, guides: Sequence[Guide], aliases: Mapping[str, str] | None = None) -> None:
        self.guides = tuple(guides)
        bodies = [_clip(g.body) for g in self.guides]
        takeaways = ["\n".join(g.takeaways) for g in self.guides]
        self.space = FieldSpace(
            [
                [g.title for g in self.guides],
                [g.tldr for g in self.guides],
                [". ".join(g.topics) for g in self.guides],
                takeaways,
                bodies,
            ],
            names_from=(1, 3, 4),
        )
        self.g_all = self.space.whole()
        self.g_subject = self.space.field(0, 1, 2)
        self.g_take = self.space.field(3)
        self.g_body = self.space.field(4)
        self.names = self.space.names
        self.words = ~self.names
        self.gw_all = restrict(self.g_all, self.words)
        self.gn_all = restrict(self.g_all, self.names)
        self.topics = TopicMatcher(self.guides, aliases)
        self.entity = np.array([self._is_entity(g) for g in self.guides], dtype=np.float32)
        idf = dict(zip(self.space.vocabulary, self.space.idf.tolist(), strict=True))
        self._heads = [
            {s: idf.get(s, 1.0) for s in stems(self._head(g)) if s != "ai"} for g in self.guides
        ]

    @staticmethod
    def _head(guide: Guide) -> str:
        """The guide's subject: its title before a colon, and its first topic."""
        first = guide.topics[0] if guide.topics else ""
        return f"{guide.title.split(':', 1)[0]} {first}"

    def _is_entity(self, guide: Guide) -> bool:
        """A guide about a named thing: most of its title head's words are names.

        "Microsoft: …", "Hugging Face: …" are about an entity; "The AI Chip Supply Chain: …",
        "AI Regulation: …" about a theme, whichever companies they mention.
        """
        head = [s for s in stems(guide.title.split(":", 1)[0]) if s != "ai"]
        known = [
            bool(self.names[c])
            for c in (self.space.vocabulary.get(s) for s in head)
            if c is not None
        ]
        return bool(known) and sum(known) / len(known) >= 0.5

    def candidates(self, items: Sequence[NewsItem]) -> tuple[np.ndarray, np.ndarray]:
        """(item row, guide column) pairs worth scoring: top-``CANDIDATES`` by text, or topic."""
        n, m = len(items), len(self.guides)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        if m == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        k = min(CANDIDATES, m)
        for start in range(0, n, _CHUNK):
            chunk = items[start : start + _CHUNK]
            sims = (self.space.vectors([item_text(i) for i in chunk]) @ self.g_all.T).toarray()
            mask = self.topics.similarity(chunk).toarray() > 0
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            mask[np.arange(len(chunk))[:, None], top] = True
            r, c = np.nonzero(mask)
            rows.append(r.astype(np.int64) + start)
            cols.append(c.astype(np.int64))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(rows), np.concatenate(cols)

    def item_vectors(self, items: Sequence[NewsItem]) -> sp.csr_matrix:
        """Whole-text vectors of items in this space (for context lines and reasons)."""
        return self.space.vectors([item_text(i) for i in items])

    def features(self, items: Sequence[NewsItem], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """One row of :data:`PAIR_FEATURES` per (rows[k], cols[k]) pair."""
        if len(rows) == 0:
            return np.zeros((0, len(PAIR_FEATURES)), dtype=np.float32)
        i_all = self.item_vectors(items)
        i_title = self.space.vectors([i.title for i in items])
        f: dict[str, np.ndarray] = {
            "all_all": row_dots(i_all, self.g_all, rows, cols),
            "all_subject": row_dots(i_all, self.g_subject, rows, cols),
            "title_subject": row_dots(i_title, self.g_subject, rows, cols),
            "title_all": row_dots(i_title, self.g_all, rows, cols),
            "all_body": row_dots(i_all, self.g_body, rows, cols),
            "all_takeaways": row_dots(i_all, self.g_take, rows, cols),
            "words_all": row_dots(restrict(i_all, self.words), self.gw_all, rows, cols),
            "names_all": row_dots(restrict(i_all, self.names), self.gn_all, rows, cols),
        }
        topic = self.topics.similarity(items)
        f["topics"] = np.asarray(topic[rows, cols]).ravel().astype(np.float32)
        f["listed"] = self.topics.listed_share(items, rows, cols)
        f["lead_topic"] = self.topics.lead_position(items, rows, cols)
        f["head_title"] = self._head_share([set(stems(i.title)) for i in items], rows, cols)
        f["head_text"] = self._head_share([set(stems(item_text(i))) for i in items], rows, cols)
        f["entity_guide"] = self.entity[cols]
        f["entity_head_title"] = f["entity_guide"] * f["head_title"]
        f["theme_words"] = (1 - f["entity_guide"]) * f["words_all"]
        for name, source in (
            ("gap_all", "all_all"),
            ("gap_subject", "all_subject"),
            ("gap_title", "title_subject"),
            ("gap_topics", "topics"),
            ("gap_words", "words_all"),
            ("gap_lead", "lead_topic"),
        ):
            f[name] = source_gap(f[source], rows, len(items))
        return np.column_stack([f[name] for name in PAIR_FEATURES]).astype(np.float32)

    def _head_share(self, words: list[set[str]], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows), dtype=np.float32)
        for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
            head = self._heads[c]
            total = sum(head.values())
            if total:
                out[k] = sum(w for s, w in head.items() if s in words[r]) / total
        return out
