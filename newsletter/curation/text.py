"""Text features shared by clustering, ranking and pairing: TF-IDF matrices, built once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.preprocessing import normalize

from newsletter.models import NewsItem

# A capitalised word (possibly hyphenated or with digits): a cheap stand-in for named entities.
ENTITY_PATTERN = r"(?u)\b[A-Z][\w-]*\w|\b[A-Z]\b"


def item_text(item: NewsItem) -> str:
    """Title and summary: the text a reader sees."""
    return f"{item.title}. {item.summary}"


def tfidf(texts: Sequence[str], *, ngrams: tuple[int, int] = (1, 1)) -> sp.csr_matrix:
    """L2-normalised TF-IDF rows (sublinear tf, English stop words); empty input gives 0 rows."""
    if not any(t.strip() for t in texts):
        return sp.csr_matrix((len(texts), 0))
    vec = TfidfVectorizer(
        sublinear_tf=True, stop_words="english", ngram_range=ngrams, dtype=np.float32
    )
    try:
        return vec.fit_transform(texts).tocsr()
    except ValueError:  # only stop words
        return sp.csr_matrix((len(texts), 0))


def hashed_tfidf(texts: Sequence[str]) -> sp.csr_matrix:
    """Like :func:`tfidf` but with hashed features: no vocabulary, less memory, faster."""
    vec = HashingVectorizer(
        n_features=2**20, alternate_sign=False, norm=None, stop_words="english", dtype=np.float32
    )
    counts = vec.transform(texts)
    return normalize(TfidfTransformer(sublinear_tf=True).fit_transform(counts)).tocsr()


def entity_matrix(texts: Sequence[str]) -> sp.csr_matrix:
    """TF-IDF over capitalised tokens, case-folded (NVIDIA = Nvidia), L2-normalised rows."""
    vec = CountVectorizer(lowercase=False, token_pattern=ENTITY_PATTERN, dtype=np.float32)
    try:
        counts = vec.fit_transform(texts).tocsr()
    except ValueError:
        return sp.csr_matrix((len(texts), 0))
    names = [n.casefold() for n in vec.get_feature_names_out()]
    unique = sorted(set(names))
    index = {n: i for i, n in enumerate(unique)}
    cols = np.fromiter((index[n] for n in names), dtype=np.int64, count=len(names))
    merge = sp.csr_matrix(
        (np.ones(len(names), dtype=np.float32), (np.arange(len(names)), cols)),
        shape=(len(names), len(unique)),
    )
    merged = (counts @ merge).tocsr()
    weighted = TfidfTransformer(sublinear_tf=True).fit_transform(merged)
    return normalize(weighted).astype(np.float32).tocsr()


_WORD_PATTERN = r"(?u)\b\w[\w-]*\w\b"


def _fold_columns(counts: sp.csr_matrix, names: Sequence[str], keep: np.ndarray) -> sp.csr_matrix:
    """Sum the kept columns whose names are equal once case-folded; TF-IDF; L2-normalise."""
    folded = [n.casefold() for n in names]
    kept = np.flatnonzero(keep)
    unique = sorted({folded[k] for k in kept})
    if not unique:
        return sp.csr_matrix((counts.shape[0], 0), dtype=np.float32)
    index = {n: i for i, n in enumerate(unique)}
    cols = np.fromiter((index[folded[k]] for k in kept), dtype=np.int64, count=len(kept))
    merge = sp.csr_matrix(
        (np.ones(len(kept), dtype=np.float32), (kept, cols)), shape=(len(names), len(unique))
    )
    merged = (counts @ merge).tocsr()
    weighted = TfidfTransformer(sublinear_tf=True).fit_transform(merged)
    return normalize(weighted).astype(np.float32).tocsr()


def text_and_entities(texts: Sequence[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """One tokenisation, two matrices: words (case-folded, no stop words) and entities.

    Entities are the capitalised tokens, case-folded (NVIDIA = Nvidia).
    """
    vec = CountVectorizer(lowercase=False, token_pattern=_WORD_PATTERN, dtype=np.float32)
    try:
        counts = vec.fit_transform(texts).tocsr()
    except ValueError:
        empty = sp.csr_matrix((len(texts), 0), dtype=np.float32)
        return empty, empty
    names = list(vec.get_feature_names_out())
    words = np.array([n.casefold() not in ENGLISH_STOP_WORDS for n in names], dtype=bool)
    capital = np.array([n[0].isupper() for n in names], dtype=bool)
    return _fold_columns(counts, names, words), _fold_columns(counts, names, capital)
