"""Stemmed TF-IDF fields for curation features: words that mean the same thing match.

Pairing and clustering compare texts field by field (a headline with a guide's subject, a
summary with a guide's body). Tokens are lower-cased word runs with English stop words
dropped, Snowball-stemmed (PyStemmer), so "lawsuits" meets "lawsuit" and "regulators" meets
"regulation". Texts are counted on raw tokens first (the fast path of ``text.count_matrix``);
each distinct token is stemmed once and the columns are then summed per stem by one sparse
product, so stemming costs per vocabulary word, not per token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import Stemmer

from newsletter.curation.text import (
    STOP_WORDS,
    WORD,
    count_matrix,
    idf_weights,
    l2_normalize,
    tokenize,
    weigh,
)

_STEMMER = Stemmer.Stemmer("english")


def stems(text: str) -> list[str]:
    """Stemmed content words of a text (lower-cased, stop words dropped)."""
    words = [t for t in WORD.findall(text.lower()) if t not in STOP_WORDS]
    return list(_STEMMER.stemWords(words))


def _stem_merge(tokens: Sequence[str]) -> tuple[sp.csr_matrix, list[str]]:
    """Tokens × stems 0/1 matrix (stop words map nowhere), and the sorted stems."""
    lower = [t.lower() for t in tokens]
    keep = [k for k, t in enumerate(lower) if t not in STOP_WORDS]
    stemmed = _STEMMER.stemWords([lower[k] for k in keep])
    names = sorted(set(stemmed))
    index = {s: i for i, s in enumerate(names)}
    cols = np.fromiter((index[s] for s in stemmed), dtype=np.int64, count=len(stemmed))
    merge = sp.csr_matrix(
        (np.ones(len(keep), dtype=np.float32), (np.asarray(keep, dtype=np.int64), cols)),
        shape=(len(tokens), len(names)),
    )
    return merge, names


def stem_counts(
    texts: Sequence[str], pattern: re.Pattern[str] = WORD
) -> tuple[sp.csr_matrix, list[str]]:
    """Texts × stems counts, stems sorted; stop words dropped."""
    counts, vocabulary = count_matrix(tokenize(texts, pattern=pattern))
    merge, names = _stem_merge(list(vocabulary))
    return (counts @ merge).tocsr(), names


class FieldSpace:
    """A vocabulary of stems and its IDF, learned from documents; texts become unit vectors.

    ``fields`` are parallel lists of texts (one entry per document in each): the document is
    all its fields together, and :meth:`field` gives the vectors of one field alone. Counts
    add up, so every text is tokenised once — case kept, so the same counts also tell which
    stems are names (:attr:`names`, from the fields listed in ``names_from``).
    """

    def __init__(self, fields: Sequence[Sequence[str]], names_from: Sequence[int] = ()) -> None:
        n = len(fields[0]) if fields else 0
        texts = [t for f in fields for t in f]
        raw, raw_vocabulary = count_matrix(tokenize(texts, lowercase=False))
        tokens = list(raw_vocabulary)
        merge, stems_ = _stem_merge(tokens)
        counts = (raw @ merge).tocsr()
        self.vocabulary = {s: i for i, s in enumerate(stems_)}
        self._fields = [counts[k * n : (k + 1) * n] for k in range(len(fields))]
        whole = sum(self._fields[1:], self._fields[0]) if fields else counts
        self.whole_counts = sp.csr_matrix(whole)
        self.idf = idf_weights(self.whole_counts)
        self.names = np.zeros(len(stems_), dtype=bool)
        if names_from:
            rows = np.concatenate([np.arange(k * n, (k + 1) * n) for k in names_from])
            self.names = self._name_mask(raw[rows], raw_vocabulary, merge)

    @staticmethod
    def _name_mask(
        raw: sp.csr_matrix,
        vocabulary: dict[str, int],
        merge: sp.csr_matrix,
        share: float = 0.7,
    ) -> np.ndarray:
        """Stems written capitalised at least ``share`` of the time in sentence-case text.

        Bodies and TL;DRs tell "Nvidia" from "chips" where a title-cased headline cannot.
        Words that start a sentence are capitalised too, but most of a content word's
        occurrences are mid-sentence, so they stay below the share.
        """
        total = np.asarray(raw.sum(axis=0)).ravel()
        capital = np.array([t[0].isupper() for t in vocabulary], dtype=np.float64)
        seen = merge.T @ total
        upper = merge.T @ (total * capital)
        return np.asarray((seen > 0) & (upper >= share * np.maximum(seen, 1)))

    def field(self, *which: int) -> sp.csr_matrix:
        """Unit TF-IDF vectors of the documents restricted to the given fields."""
        counts = sum((self._fields[k] for k in which[1:]), self._fields[which[0]])
        return weigh(sp.csr_matrix(counts), self.idf)

    def whole(self) -> sp.csr_matrix:
        return weigh(self.whole_counts, self.idf)

    def vectors(self, texts: Sequence[str]) -> sp.csr_matrix:
        """L2-normalised sublinear TF-IDF rows over this space's vocabulary."""
        counts, names = stem_counts(texts)
        cols = np.array([self.vocabulary.get(s, -1) for s in names], dtype=np.int64)
        known = np.flatnonzero(cols >= 0)
        merge = sp.csr_matrix(
            (np.ones(len(known), dtype=np.float32), (known, cols[known])),
            shape=(len(names), len(self.vocabulary)),
        )
        return weigh((counts @ merge).tocsr(), self.idf)


def restrict(matrix: sp.csr_matrix, columns: np.ndarray) -> sp.csr_matrix:
    """Keep only the ``columns`` (boolean mask) of the rows, and make them unit again."""
    m = sp.csr_matrix(matrix, copy=True)
    m.data = m.data * columns[m.indices].astype(np.float32)
    m.eliminate_zeros()
    return l2_normalize(m)


def row_dots(a: sp.csr_matrix, b: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``a[rows[k]] · b[cols[k]]`` for every k, without a dense product."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.float32)
    out = np.asarray(a[rows].multiply(b[cols]).sum(axis=1)).ravel()
    return out.astype(np.float32)
