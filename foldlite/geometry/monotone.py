"""Monotone maps fitted to data: the shared core of the pLDDT, PAE and pTM calibrations."""
from __future__ import annotations

import numpy as np


def equal_count_knots(x: np.ndarray, y: np.ndarray, num_knots: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Knots of a non-decreasing map x -> y: the means of `num_knots` equal-count bins of x, made
    monotone by isotonic regression (pool adjacent violators, weighted by bin size); each pooled knot
    sits at the mean x of its points. Non-finite points are dropped."""
    from scipy.optimize import isotonic_regression

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x)
    groups = [g for g in np.array_split(order, num_knots) if len(g)]
    xs = np.array([x[g].mean() for g in groups])
    ys = np.array([y[g].mean() for g in groups])
    counts = np.array([len(g) for g in groups], dtype=np.float64)
    fit = isotonic_regression(ys, weights=counts, increasing=True)
    bounds = list(zip(fit.blocks[:-1], fit.blocks[1:]))  # [start, end) of each pooled block
    return (tuple(float(np.average(xs[a:b], weights=counts[a:b])) for a, b in bounds),
            tuple(float(fit.x[a]) for a, _ in bounds))
