"""Average-linkage merging over a sparse graph of same-story probabilities, vectorised.

Sequential average linkage merges, one pair at a time, the two groups with the highest mean
probability over all their cross pairs (a pair never scored counts as 0), while that mean
reaches the threshold. Average linkage is *reducible*: a merged group is never closer to a
third group than the closer of its two parts. So every pair of groups that are each other's
best neighbour can merge at once (reciprocal agglomerative clustering, Sumengen et al. 2021,
"Scaling Hierarchical Agglomerative Clustering to Billion-sized Datasets"), and the rounds
reach the same groups as the one-at-a-time loop, with a few sparse products per round instead
of a Python step per merge.

The constraints keep that property, because once broken they stay broken as groups grow:
groups sharing a source never merge, nor do groups holding a pair an editor split, nor (when
asked) groups with a pair across them that was never scored.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import scipy.sparse as sp

__all__ = ["average_linkage"]


def _assign(labels: np.ndarray) -> sp.csr_matrix:
    """Items (or old groups) × groups 0/1 matrix of ``labels``."""
    n = len(labels)
    return sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, n))


def _collapse(matrix: sp.csr_matrix, to: sp.csr_matrix, symmetric: bool = True) -> sp.csr_matrix:
    """Sum the rows (and columns) of ``matrix`` into groups; a group's own pairs dropped."""
    out = (to.T @ matrix @ to).tocsr() if symmetric else (to.T @ matrix).tocsr()
    if symmetric:
        out.setdiag(0)
        out.eliminate_zeros()
    return out


def _pair_matrix(
    n: int, a: np.ndarray, b: np.ndarray, values: np.ndarray | None = None
) -> sp.csr_matrix:
    """Symmetric n × n matrix with ``values`` (default 1) at every (a, b) and (b, a)."""
    v = np.ones(len(a)) if values is None else values
    return sp.csr_matrix((np.r_[v, v], (np.r_[a, b], np.r_[b, a])), shape=(n, n))


def _arrays(pairs: Collection[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    a = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    b = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    return a, b


def _forced_groups(n: int, forced: Collection[tuple[int, int]]) -> np.ndarray:
    """Each item's group after the forced merges (few: a plain union-find), by smallest member."""
    if not forced:
        return np.arange(n, dtype=np.int64)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in forced:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(x) for x in range(n)], dtype=np.int64)


def average_linkage(
    n: int,
    rows: np.ndarray,
    cols: np.ndarray,
    prob: np.ndarray,
    sources: np.ndarray,
    threshold: float,
    *,
    forced: Collection[tuple[int, int]] = (),
    forbidden: Collection[tuple[int, int]] = (),
    cliques: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Group ``n`` items; return each item's group (its smallest member's index) and, per
    group index, its weakest merge's mean probability (1.0 for ``forced`` groups; inf for
    an item alone).

    ``rows``/``cols``/``prob``: scored pairs; ``sources``: each item's source as an integer.
    ``forced`` pairs are merged first (whatever their sources); ``forbidden`` pairs count as
    unscored and their groups never merge. With ``cliques``, two groups merge only when every
    pair across them was scored: no group then holds a pair never scored (or one an editor's
    merges joined); average linkage alone lets an item in on one strong link.
    """
    labels = _forced_groups(n, forced)
    size = np.bincount(labels, minlength=n).astype(np.float64)
    weakest = np.full(n, np.inf)
    weakest[size > 1] = 1.0

    to = _assign(labels)
    sums = _collapse(_pair_matrix(n, rows, cols, prob), to)
    src = _collapse(
        sp.csr_matrix((np.ones(n), (np.arange(n), sources)), shape=(n, int(sources.max()) + 1)),
        to,
        symmetric=False,
    )
    split = _collapse(_pair_matrix(n, *_arrays(forbidden)), to)
    links = _collapse(_pair_matrix(n, rows, cols), to) if cliques else None
    while True:
        edges = sums.tocoo()
        a, b = edges.row.astype(np.int64), edges.col.astype(np.int64)
        mean = edges.data / (size[a] * size[b])
        ok = mean >= threshold
        a, b, mean = a[ok], b[ok], mean[ok]
        if len(a):
            ok = np.asarray(src[a].multiply(src[b]).sum(axis=1)).ravel() == 0
            if split.nnz:
                ok &= np.asarray(split[a, b]).ravel() == 0
            if links is not None:
                ok &= np.asarray(links[a, b]).ravel() == size[a] * size[b]
            a, b, mean = a[ok], b[ok], mean[ok]
        if not len(a):
            break
        # Each group's best neighbour: highest mean, then smallest index (deterministic ties).
        order = np.lexsort((b, -mean, a))
        a, b, mean = a[order], b[order], mean[order]
        first = np.r_[True, a[1:] != a[:-1]]
        a, b, mean = a[first], b[first], mean[first]
        best = np.full(n, -1, dtype=np.int64)
        best[a] = b
        mutual = (a < b) & (best[b] == a)
        a, b, mean = a[mutual], b[mutual], mean[mutual]
        step = np.arange(n)
        step[b] = a
        labels = step[labels]
        weakest[a] = np.minimum(np.minimum(weakest[a], weakest[b]), mean)
        weakest[b] = np.inf
        to = _assign(step)
        sums = _collapse(sums, to)
        src = _collapse(src, to, symmetric=False)
        if split.nnz:
            split = _collapse(split, to)
        if links is not None:
            links = _collapse(links, to)
        size = np.bincount(step, weights=size, minlength=n).astype(np.float64)
    return labels, weakest
