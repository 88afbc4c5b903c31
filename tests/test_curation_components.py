"""The numpy connected components give scipy's labels (same numbering), without its import."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from newsletter.curation.clustering import _components


def test_same_labels_as_scipy_on_random_graphs() -> None:
    rng = np.random.default_rng(20261124)
    for _ in range(300):
        n = int(rng.integers(1, 300))
        m = int(rng.integers(0, 400))
        rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
        graph = sp.coo_matrix((np.ones(m), (rows, cols)), shape=(n, n))
        _, expected = connected_components(graph, directed=False)
        assert np.array_equal(_components(n, rows, cols), expected)


def test_long_chain_and_no_edges() -> None:
    n = 5000
    rows = np.arange(n - 1)[::-1].copy()
    assert np.array_equal(_components(n, rows, rows + 1), np.zeros(n, dtype=np.int32))
    empty = np.array([], dtype=np.int64)
    assert np.array_equal(_components(4, empty, empty), np.arange(4))
