"""Sparse text vectors for clustering, ranking and pairing: TF-IDF without scikit-learn.

The same maths as scikit-learn's TfidfVectorizer (smooth IDF ln((1+n)/(1+df)) + 1, sublinear
tf 1 + ln(tf), L2-normalised rows, tokens of two or more word characters, English stop words),
written directly on scipy.sparse: importing scikit-learn alone costs about a second per run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import chain

import numpy as np
import scipy.sparse as sp

from newsletter.models import NewsItem

# The same matches as scikit-learn's r"(?u)\b\w\w+\b" and r"(?u)\b\w[\w-]*\w\b", ~20-30%
# faster: a greedy run of word characters always starts and ends on a word boundary, so the
# \b assertions never reject anything (tests/test_curation_text.py checks this).
WORD = re.compile(r"\w\w+")
WORD_WITH_HYPHENS = re.compile(r"\w[\w-]*\w")

# The English stop-word list scikit-learn uses (Glasgow Information Retrieval Group).
# fmt: off
STOP_WORDS = frozenset([
    "a", "about", "above", "across", "after", "afterwards", "again", "against", "all", "almost",
    "alone", "along", "already", "also", "although", "always", "am", "among", "amongst",
    "amoungst", "amount", "an", "and", "another", "any", "anyhow", "anyone", "anything",
    "anyway", "anywhere", "are", "around", "as", "at", "back", "be", "became", "because",
    "become", "becomes", "becoming", "been", "before", "beforehand", "behind", "being", "below",
    "beside", "besides", "between", "beyond", "bill", "both", "bottom", "but", "by", "call",
    "can", "cannot", "cant", "co", "con", "could", "couldnt", "cry", "de", "describe", "detail",
    "do", "done", "down", "due", "during", "each", "eg", "eight", "either", "eleven", "else",
    "elsewhere", "empty", "enough", "etc", "even", "ever", "every", "everyone", "everything",
    "everywhere", "except", "few", "fifteen", "fifty", "fill", "find", "fire", "first", "five",
    "for", "former", "formerly", "forty", "found", "four", "from", "front", "full", "further",
    "get", "give", "go", "had", "has", "hasnt", "have", "he", "hence", "her", "here",
    "hereafter", "hereby", "herein", "hereupon", "hers", "herself", "him", "himself", "his",
    "how", "however", "hundred", "i", "ie", "if", "in", "inc", "indeed", "interest", "into",
    "is", "it", "its", "itself", "keep", "last", "latter", "latterly", "least", "less", "ltd",
    "made", "many", "may", "me", "meanwhile", "might", "mill", "mine", "more", "moreover",
    "most", "mostly", "move", "much", "must", "my", "myself", "name", "namely", "neither",
    "never", "nevertheless", "next", "nine", "no", "nobody", "none", "noone", "nor", "not",
    "nothing", "now", "nowhere", "of", "off", "often", "on", "once", "one", "only", "onto",
    "or", "other", "others", "otherwise", "our", "ours", "ourselves", "out", "over", "own",
    "part", "per", "perhaps", "please", "put", "rather", "re", "same", "see", "seem", "seemed",
    "seeming", "seems", "serious", "several", "she", "should", "show", "side", "since",
    "sincere", "six", "sixty", "so", "some", "somehow", "someone", "something", "sometime",
    "sometimes", "somewhere", "still", "such", "system", "take", "ten", "than", "that", "the",
    "their", "them", "themselves", "then", "thence", "there", "thereafter", "thereby",
    "therefore", "therein", "thereupon", "these", "they", "thick", "thin", "third", "this",
    "those", "though", "three", "through", "throughout", "thru", "thus", "to", "together",
    "too", "top", "toward", "towards", "twelve", "twenty", "two", "un", "under", "until", "up",
    "upon", "us", "very", "via", "was", "we", "well", "were", "what", "whatever", "when",
    "whence", "whenever", "where", "whereafter", "whereas", "whereby", "wherein", "whereupon",
    "wherever", "whether", "which", "while", "whither", "who", "whoever", "whole", "whom",
    "whose", "why", "will", "with", "within", "without", "would", "yet", "you", "your", "yours",
    "yourself", "yourselves",
])
# fmt: on


def item_text(item: NewsItem) -> str:
    """Title and summary: the text a reader sees."""
    return f"{item.title}. {item.summary}"


def tokenize(
    texts: Iterable[str], *, pattern: re.Pattern[str] = WORD, lowercase: bool = True
) -> list[list[str]]:
    """Tokens of each text (lower-cased unless told otherwise)."""
    find = pattern.findall
    if lowercase:
        return [find(t.lower()) for t in texts]
    return [find(t) for t in texts]


def drop_stop_words(docs: list[list[str]]) -> list[list[str]]:
    return [[t for t in doc if t not in STOP_WORDS] for doc in docs]


def count_matrix(
    docs: Sequence[Sequence[str]],
    vocabulary: dict[str, int] | None = None,
    *,
    complete: bool = False,
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Documents × terms counts. Without a vocabulary, terms are every token, sorted.

    With one, tokens outside it are ignored (``complete``: the caller knows there are none).
    """
    if vocabulary is None:
        vocabulary = {t: i for i, t in enumerate(sorted(set(chain.from_iterable(docs))))}
        kept = docs
    elif complete:
        kept = docs
    else:
        kept = [[t for t in doc if t in vocabulary] for doc in docs]
    lengths = np.fromiter((len(d) for d in kept), dtype=np.int64, count=len(kept))
    indptr = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.fromiter(
        map(vocabulary.__getitem__, chain.from_iterable(kept)),
        dtype=np.int32,
        count=int(indptr[-1]),
    )
    data = np.ones(len(indices), dtype=np.float32)
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(kept), len(vocabulary)))
    matrix.sum_duplicates()
    return matrix, vocabulary


def idf_weights(counts: sp.csr_matrix) -> np.ndarray:
    """Smooth IDF over the rows of ``counts``."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf: np.ndarray = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
    return idf


def l2_normalize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale every row to unit length (empty rows stay empty)."""
    m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    norms = np.sqrt(np.bincount(rows, weights=np.square(m.data), minlength=m.shape[0]))
    norms[norms == 0] = 1.0
    m.data = (m.data / norms[rows]).astype(np.float32)
    return m


def weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf × idf, L2-normalised rows."""
    m = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    m.data = ((1 + np.log(m.data)) * idf[m.indices]).astype(np.float32)
    return l2_normalize(m)


def without_stop_words(
    counts: sp.csr_matrix, vocabulary: dict[str, int]
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Drop stop-word columns (cheaper than filtering every token)."""
    names = list(vocabulary)
    keep = np.array([n not in STOP_WORDS for n in names], dtype=bool)
    kept = np.flatnonzero(keep)
    return counts[:, kept].tocsr(), {names[k]: i for i, k in enumerate(kept)}


_CHUNK_DOCS = 8192


def count_texts(texts: Sequence[str]) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Like ``count_matrix(tokenize(texts))`` but a chunk at a time, so the token lists of a
    huge corpus never all exist at once; columns end up in sorted term order."""
    if len(texts) <= _CHUNK_DOCS:
        return count_matrix(tokenize(texts))
    seen: dict[str, int] = {}
    parts: list[sp.csr_matrix] = []
    for start in range(0, len(texts), _CHUNK_DOCS):
        docs = tokenize(texts[start : start + _CHUNK_DOCS])
        for token in sorted(set(chain.from_iterable(docs)).difference(seen)):
            seen[token] = len(seen)
        part, _ = count_matrix(docs, seen, complete=True)
        parts.append(part)
    width = len(seen)
    matrix = sp.vstack(
        [sp.csr_matrix((p.data, p.indices, p.indptr), shape=(p.shape[0], width)) for p in parts],
        format="csr",
    )
    order = sorted(seen)
    position = np.empty(width, dtype=np.int64)
    position[np.fromiter((seen[t] for t in order), dtype=np.int64, count=width)] = np.arange(width)
    matrix = sp.csr_matrix(
        (matrix.data, position[matrix.indices], matrix.indptr), shape=matrix.shape
    )
    matrix.sort_indices()
    return matrix, {t: i for i, t in enumerate(order)}


def tfidf(texts: Sequence[str]) -> sp.csr_matrix:
    """L2-normalised TF-IDF rows (sublinear tf, English stop words removed)."""
    counts, _ = without_stop_words(*count_texts(texts))
    return weigh(counts, idf_weights(counts))


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
    return weigh(merged, idf_weights(merged))


def text_and_entities(texts: Sequence[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """One tokenisation, two TF-IDF matrices: words (case-folded, no stop words) and entities.

    Entities are the capitalised tokens, case-folded (NVIDIA = Nvidia).
    """
    counts, vocabulary = count_matrix(tokenize(texts, pattern=WORD_WITH_HYPHENS, lowercase=False))
    names = list(vocabulary)
    words = np.array([n.casefold() not in STOP_WORDS for n in names], dtype=bool)
    capital = np.array([n[0].isupper() for n in names], dtype=bool)
    return _fold_columns(counts, names, words), _fold_columns(counts, names, capital)


def ngrams(docs: Sequence[Sequence[str]], longest: int) -> list[list[str]]:
    """Every 1..``longest``-gram of each token list, joined with single spaces."""
    out = []
    for doc in docs:
        grams = list(doc)
        for n in range(2, longest + 1):
            grams.extend(" ".join(doc[i : i + n]) for i in range(len(doc) - n + 1))
        out.append(grams)
    return out
