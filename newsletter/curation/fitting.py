"""Deterministic fitting: L2-penalised maximum likelihood by scipy's L-BFGS from zeros.

The same inputs always give the same weights, so a model file rebuilt from the same labelled
data is byte-identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from newsletter.curation.model import Linear

__all__ = ["fit_logistic", "minimise", "standardise"]


def minimise(
    loss_grad: object, d: int, bounds: Sequence[tuple[float | None, float | None]] | None = None
) -> np.ndarray:
    """Minimise ``loss_grad(w) -> (loss, gradient)`` over ``d`` weights, from zeros."""
    from scipy.optimize import minimize  # only when training: costs ~0.1 s to import

    result = minimize(loss_grad, np.zeros(d), jac=True, method="L-BFGS-B", bounds=bounds)
    return np.asarray(result.x)


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns scaled to mean 0 and unit variance; also the means and scales used."""
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    scale = x.std(axis=0) + 1e-6 if len(x) else np.ones(x.shape[1])
    return (x - mean) / scale, mean, scale


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    l2: float,
    *,
    signs: bool = False,
    negative: frozenset[str] = frozenset(),
    free: frozenset[str] = frozenset(),
) -> Linear:
    """L2-penalised logistic regression (the bias is not penalised).

    With ``signs``, weights are sign-constrained: ``negative`` features can only count
    against (≤ 0), ``free`` ones either way, every other one only for (≥ 0).
    """
    z, mean, scale = standardise(x.astype(np.float64))
    d = z.shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        q = 1 / (1 + np.exp(-np.clip(z @ w[:-1] + w[-1], -50, 50)))
        ll = float((y * np.log(q + 1e-12) + (1 - y) * np.log(1 - q + 1e-12)).sum())
        g = np.r_[z.T @ (q - y) + l2 * w[:-1], (q - y).sum()]
        return -ll + l2 * float(w[:-1] @ w[:-1]) / 2, g

    bounds: list[tuple[float | None, float | None]] | None = None
    if signs:
        unbounded: tuple[float | None, float | None] = (None, None)
        bounds = [
            unbounded if n in free else (None, 0.0) if n in negative else (0.0, None) for n in names
        ]
        bounds.append(unbounded)
    w = minimise(loss, d + 1, bounds)
    return Linear(
        features=names,
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        weights=tuple(w[:-1].tolist()),
        bias=float(w[-1]),
    )
