"""Intervals and corrections, each checked against a hand computation or another library."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from analysis.intervals import (
    bootstrap_mean_interval,
    chi2_p,
    fisher_p,
    holm,
    newcombe_interval,
    wilson_interval,
    z_value,
)


def test_wilson_interval_worked_by_hand():
    # 8 successes in 10 trials, z = 1.959964:
    # centre = (8 + z²/2) / (10 + z²) = 9.920729 / 13.841459 = 0.716740
    # half   = z·sqrt(8·2/10 + z²/4) / (10 + z²) = 1.959964·1.600115 / 13.841459 = 0.226578
    lo, hi = wilson_interval(8, 10)
    assert float(lo) == pytest.approx(0.716740 - 0.226578, abs=2e-6)
    assert float(hi) == pytest.approx(0.716740 + 0.226578, abs=2e-6)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.4902, 0.9433)


@pytest.mark.parametrize("k,n", [(0, 7), (3, 7), (7, 7), (1, 200), (150, 300), (29, 30)])
def test_wilson_matches_statsmodels(k, n):
    lo, hi = wilson_interval(k, n)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert float(lo) == pytest.approx(ref_lo, abs=1e-12)
    assert float(hi) == pytest.approx(ref_hi, abs=1e-12)


def test_wilson_edges_and_vectorised():
    lo, hi = wilson_interval(np.array([0, 5, 0]), np.array([5, 5, 0]))
    assert lo[0] == 0.0 and hi[1] == 1.0
    assert math.isnan(lo[2]) and math.isnan(hi[2])
    lo99, hi99 = wilson_interval(3, 10, level=0.99)
    lo95, hi95 = wilson_interval(3, 10)
    assert lo99 < lo95 and hi99 > hi95
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        z_value(1.5)


def test_newcombe_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80,
    # method 10 (hybrid score) gives 0.0524 to 0.3339 for the difference 0.2.
    diff, lo, hi = newcombe_interval(56, 70, 48, 80)
    assert diff == pytest.approx(0.2)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)


def test_newcombe_built_from_wilson_by_hand():
    p1, p2 = 9 / 12, 3 / 15
    l1, u1 = proportion_confint(9, 12, method="wilson")
    l2, u2 = proportion_confint(3, 15, method="wilson")
    diff, lo, hi = newcombe_interval(9, 12, 3, 15)
    assert lo == pytest.approx(p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    assert hi == pytest.approx(p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    assert all(math.isnan(v) for v in newcombe_interval(1, 0, 1, 2))


def test_fisher_against_scipy_and_hypergeometric_sum():
    # the 2x2 table [[8, 2], [1, 5]]: 8/10 versus 1/6
    table = [[8, 2], [1, 5]]
    ours = fisher_p(8, 10, 1, 6)
    assert ours == pytest.approx(stats.fisher_exact(table).pvalue)
    # by hand: sum the hypergeometric probabilities of tables no more likely than observed
    rows, col, total = (10, 6), 9, 16

    def prob(a: int) -> float:
        return math.comb(rows[0], a) * math.comb(rows[1], col - a) / math.comb(total, col)

    observed = prob(8)
    by_hand = sum(prob(a) for a in range(max(0, col - rows[1]), min(rows[0], col) + 1)
                  if prob(a) <= observed * (1 + 1e-7))
    assert ours == pytest.approx(by_hand, rel=1e-9)
    assert math.isnan(fisher_p(1, 0, 1, 2))


def test_chi2_matches_yates_formula():
    a, b, c, d = 30, 20, 15, 35
    n = a + b + c + d
    statistic = n * (abs(a * d - b * c) - n / 2) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    assert chi2_p(a, a + b, c, c + d) == pytest.approx(stats.chi2.sf(statistic, 1))
    uncorrected = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    assert chi2_p(a, a + b, c, c + d, correction=False) == pytest.approx(
        stats.chi2.sf(uncorrected, 1))
    assert chi2_p(0, 10, 0, 12) == 1.0  # nothing happened in either group


def test_holm_by_hand_and_against_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.04·1, 0.06) = 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    many = np.random.default_rng(3).uniform(0, 0.2, size=17)
    assert holm(many) == pytest.approx(multipletests(many, method="holm")[1])
    with_nan = holm([0.02, float("nan"), 0.01])
    assert with_nan[0] == pytest.approx(0.02) and with_nan[2] == pytest.approx(0.02)
    assert math.isnan(with_nan[1])
    assert holm([0.6, 0.7]).max() <= 1.0


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(1).normal(2.0, 1.0, size=80)
    first = bootstrap_mean_interval(values, n_boot=1000, seed=5)
    assert first == bootstrap_mean_interval(values, n_boot=1000, seed=5)
    assert first != bootstrap_mean_interval(values, n_boot=1000, seed=6)
    mean, lo, hi = first
    assert mean == pytest.approx(values.mean())
    assert lo < mean < hi
    # the percentile interval of a mean is close to mean ± 1.96·sd/sqrt(n)
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values))
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)


def test_bootstrap_coverage_is_close_to_nominal():
    generator = np.random.default_rng(11)
    covered = 0
    trials = 200
    for t in range(trials):
        sample = generator.exponential(1.0, size=60)  # true mean 1
        _, lo, hi = bootstrap_mean_interval(sample, n_boot=400, seed=t)
        covered += lo <= 1.0 <= hi
    assert 0.87 <= covered / trials <= 0.99


def test_cluster_bootstrap_widens_for_correlated_clusters_and_handles_nan():
    generator = np.random.default_rng(2)
    cluster_effect = generator.normal(0, 1, size=10)
    clusters = np.repeat(np.arange(10), 20)
    values = cluster_effect[clusters] + generator.normal(0, 0.1, size=200)
    _, lo_naive, hi_naive = bootstrap_mean_interval(values, n_boot=800)
    _, lo_cluster, hi_cluster = bootstrap_mean_interval(values, clusters, n_boot=800)
    assert (hi_cluster - lo_cluster) > 2.5 * (hi_naive - lo_naive)
    # singleton clusters are the plain bootstrap, draw for draw
    singles = bootstrap_mean_interval(values, [("r", i) for i in range(200)], n_boot=300)
    assert singles == bootstrap_mean_interval(values, n_boot=300)
    mean, lo, hi = bootstrap_mean_interval([1.0, float("nan"), 3.0], n_boot=100)
    assert mean == 2.0 and 1.0 <= lo <= hi <= 3.0
    assert all(math.isnan(v) for v in bootstrap_mean_interval([], n_boot=10))
    one = bootstrap_mean_interval([4.0], n_boot=10)
    assert one[0] == 4.0 and math.isnan(one[1])
