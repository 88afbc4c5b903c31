"""The vectorised average linkage merges exactly what one-merge-at-a-time average linkage does
(with and without the rule that a group holds no pair never scored)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.curation.linkage import average_linkage


def sequential(
    n: int,
    prob: dict[tuple[int, int], float],
    sources: list[int],
    threshold: float,
    forced: list[tuple[int, int]],
    forbidden: set[tuple[int, int]],
    cliques: bool = False,
) -> tuple[list[frozenset[int]], dict[frozenset[int], float]]:
    """The textbook loop: merge the allowed pair of groups with the highest mean, repeat
    (with ``cliques``, only groups whose every cross pair was scored are allowed)."""
    groups = [frozenset([i]) for i in range(n)]
    weakest: dict[frozenset[int], float] = {}
    for a, b in forced:
        ga = next(g for g in groups if a in g)
        gb = next(g for g in groups if b in g)
        if ga != gb:
            groups.remove(ga)
            groups.remove(gb)
            groups.append(ga | gb)
            weakest[ga | gb] = 1.0
    while True:
        best: tuple[float, int, int] | None = None
        for x, y in combinations(groups, 2):
            if {sources[i] for i in x} & {sources[i] for i in y}:
                continue
            if any((min(i, j), max(i, j)) in forbidden for i in x for j in y):
                continue
            if cliques and any((min(i, j), max(i, j)) not in prob for i in x for j in y):
                continue
            total = sum(prob.get((min(i, j), max(i, j)), 0.0) for i in x for j in y)
            mean = total / (len(x) * len(y))
            lo, hi = sorted((min(x), min(y)))
            if mean >= threshold and (best is None or (-mean, lo, hi) < (-best[0], *best[1:])):
                best = (mean, lo, hi)
        if best is None:
            return groups, weakest
        mean, a, b = best
        ga = next(g for g in groups if min(g) == a)
        gb = next(g for g in groups if min(g) == b)
        groups.remove(ga)
        groups.remove(gb)
        merged = ga | gb
        weakest[merged] = min(mean, weakest.pop(ga, 1.0), weakest.pop(gb, 1.0))
        groups.append(merged)


@st.composite
def graphs(draw: st.DrawFn) -> tuple[object, ...]:
    n = draw(st.integers(1, 9))
    pairs = list(combinations(range(n), 2))
    # Few distinct values, so ties between means are common and their order is checked too;
    # binary fractions, so every sum is exact whatever order it is added in.
    values = st.sampled_from([0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.875, 1.0])
    prob = {p: v for p in pairs if (v := draw(values)) > 0}
    sources = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    subset = st.lists(st.sampled_from(pairs), max_size=2, unique=True) if pairs else st.just([])
    forced = draw(subset)
    forbidden = {p for p in draw(subset) if p not in forced}
    return n, prob, sources, forced, forbidden


@settings(max_examples=400, deadline=None)
@given(graphs(), st.sampled_from([0.28, 0.5, 0.7]), st.booleans())
def test_same_groups_and_confidences_as_the_sequential_loop(
    graph: tuple[object, ...], threshold: float, cliques: bool
) -> None:
    n, prob, sources, forced, forbidden = graph
    assert isinstance(n, int) and isinstance(prob, dict) and isinstance(sources, list)
    assert isinstance(forced, list) and isinstance(forbidden, set)
    kept = {p: v for p, v in prob.items() if p not in forbidden}
    rows = np.array([p[0] for p in kept], dtype=np.int64)
    cols = np.array([p[1] for p in kept], dtype=np.int64)
    values = np.array(list(kept.values()), dtype=np.float64)
    labels, weakest = average_linkage(
        n,
        rows,
        cols,
        values,
        np.array(sources, dtype=np.int64),
        threshold,
        forced=forced,
        forbidden=sorted(forbidden),
        cliques=cliques,
    )
    expected, expected_weakest = sequential(n, kept, sources, threshold, forced, forbidden, cliques)
    got: dict[int, set[int]] = {}
    for item, root in enumerate(labels.tolist()):
        got.setdefault(root, set()).add(item)
    assert sorted(map(sorted, got.values())) == sorted(map(sorted, expected))
    for root, members in got.items():
        assert root == min(members)
        if len(members) > 1:
            assert weakest[root] == expected_weakest[frozenset(members)]
        else:
            assert weakest[root] == np.inf


def test_nothing_scored_leaves_everyone_alone() -> None:
    none = np.zeros(0, dtype=np.int64)
    labels, weakest = average_linkage(3, none, none, np.zeros(0), np.zeros(3, np.int64), 0.3)
    assert labels.tolist() == [0, 1, 2]
    assert np.isinf(weakest).all()
