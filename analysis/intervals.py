"""Interval estimates and multiple-testing corrections used by every analysis table.

- Rates: Wilson score intervals (good coverage for small n and rates near 0 or 1).
- Differences of two rates: Newcombe's hybrid score interval, built from the two Wilson
  intervals (method 10 of Newcombe, 1998).
- Means: percentile bootstrap, optionally resampling whole clusters (replicate runs or
  customers) so that correlated decisions are not counted as independent. Always seeded.
- Families of p-values: Holm's step-down correction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

DEFAULT_LEVEL = 0.95
DEFAULT_BOOTSTRAP = 2000
BOOTSTRAP_CELLS_PER_CHUNK = 2_000_000
"""Upper bound on replicates x clusters held in memory at once by the bootstrap."""


def z_value(level: float = DEFAULT_LEVEL) -> float:
    """The two-sided standard-normal quantile for a confidence level (1.96 for 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson_interval(k: float | np.ndarray, n: float | np.ndarray,
                    level: float = DEFAULT_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes in n trials (NaN where n == 0).

    centre = (k + z²/2) / (n + z²),  half-width = z·sqrt(k(n−k)/n + z²/4) / (n + z²).
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = n + z * z
        centre = (k + z * z / 2) / denominator
        half = z * np.sqrt(np.maximum(k * (n - k) / n, 0.0) + z * z / 4) / denominator
        # exact at the edges (k = 0 or k = n), where rounding would leave a 1e-17 gap
        lo = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        hi = np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
        lo = np.where(n > 0, lo, np.nan)
        hi = np.where(n > 0, hi, np.nan)
    return lo, hi


def newcombe_interval(k1: float, n1: float, k2: float, n2: float,
                      level: float = DEFAULT_LEVEL) -> tuple[float, float, float]:
    """Difference p1 − p2 of two independent rates with Newcombe's hybrid score interval.

    Returns (difference, lower, upper); NaNs when either n is 0.
    """
    if n1 <= 0 or n2 <= 0:
        return float("nan"), float("nan"), float("nan")
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = (float(v) for v in wilson_interval(k1, n1, level))
    l2, u2 = (float(v) for v in wilson_interval(k2, n2, level))
    diff = p1 - p2
    lower = diff - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = diff + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(diff), float(lower), float(upper)


def fisher_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher's exact p-value for k1/n1 versus k2/n2 (NaN when a group is empty)."""
    if n1 <= 0 or n2 <= 0:
        return float("nan")
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


def chi2_p(k1: int, n1: int, k2: int, n2: int, correction: bool = True) -> float:
    """Pearson chi-square p-value (Yates-corrected by default) for k1/n1 versus k2/n2.

    A table with an empty row or column carries no evidence of a difference: p = 1.
    """
    if n1 <= 0 or n2 <= 0:
        return float("nan")
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], dtype=np.float64)
    if (table.sum(axis=0) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=correction).pvalue)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaNs are left out of the family and stay NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return adjusted
    order = present[np.argsort(p[present], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def bootstrap_mean_interval(values: Sequence[float] | np.ndarray,
                            clusters: Sequence[object] | np.ndarray | None = None, *,
                            n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                            level: float = DEFAULT_LEVEL) -> tuple[float, float, float]:
    """Mean of `values` with a seeded percentile-bootstrap interval.

    With `clusters`, whole clusters are resampled with replacement (a cluster bootstrap of the
    ratio estimator sum/count), so decisions of the same replicate run or the same customer
    move together. NaN values are dropped. Returns (mean, lower, upper); the interval is NaN
    with fewer than two observations (or two clusters).
    """
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    values = values[keep]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if clusters is None:
        sums, counts = values, np.ones_like(values)
    else:
        labels = pd.Series(list(clusters), dtype=object)
        if len(labels) != len(keep):
            raise ValueError(f"clusters has {len(labels)} labels for {len(keep)} values")
        codes, _ = pd.factorize(labels[keep])
        sums = np.bincount(codes, weights=values)
        counts = np.bincount(codes).astype(np.float64)
    c = len(sums)
    if c < 2 or n_boot < 1:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOTSTRAP_CELLS_PER_CHUNK // c)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(c, size=(stop - start, c))
        means[start:stop] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    alpha = 1 - level
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return mean, float(lo), float(hi)

