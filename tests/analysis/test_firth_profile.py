"""Firth fits' profile penalised-likelihood intervals against a brute-force profile: the
penalised likelihood written out on the cells of a separated 2×2 design, the other
coefficients maximised by scipy at each value of β_j, the crossing found on a grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from analysis.firth_profile import penalised_loglik, profile_loglik
from analysis.regression import PROFILE, design_matrix, interaction_logit, irls
from tests.analysis.test_regression import design_frame

COUNTS = {(False, False): (12, 40), (True, False): (5, 40), (False, True): (0, 40),
          (True, True): (1, 40)}
"""company_reads without customer_reads never overrides: ML log-odds −inf there."""


def cells() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Design rows (const, C, K, C·K), events and trials per cell."""
    x = np.array([[1.0, c, k, c * k] for c, k in COUNTS])
    events = np.array([hits for hits, _ in COUNTS.values()], dtype=float)
    trials = np.array([n for _, n in COUNTS.values()], dtype=float)
    return x, events, trials


def penalised(beta: np.ndarray) -> float:
    """Σ_cells [k·η − n·log(1 + e^η)] + ½ log|Σ_cells n·p(1−p)·x xᵀ|."""
    x, k, n = cells()
    eta = x @ beta
    p = 1 / (1 + np.exp(-eta))
    info = (x * (n * p * (1 - p))[:, None]).T @ x
    return float(np.sum(k * eta - n * np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet(info)[1])


def brute_profile(j: int, b: float) -> float:
    """max over the other coefficients of the penalised log-likelihood, with β_j = b."""
    def minus(free: np.ndarray) -> float:
        return -penalised(np.insert(free, j, b))

    best = optimize.minimize(minus, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    return -best.fun


def brute_interval(j: int, beta_hat: np.ndarray, top: float) -> tuple[float, float]:
    cut = stats.chi2.ppf(0.95, 1)
    excess = lambda b: 2 * (top - brute_profile(j, b)) - cut  # noqa: E731
    ends = []
    for direction in (-1, 1):
        grid = beta_hat[j] + direction * np.arange(0.0, 30.0, 0.25)
        values = [excess(b) for b in grid[:2]]
        while values[-1] < 0:
            values.append(excess(grid[len(values)]))
        a, b = grid[len(values) - 2], grid[len(values) - 1]
        ends.append(optimize.brentq(excess, min(a, b), max(a, b), xtol=1e-8))
    return ends[0], ends[1]


def test_profile_intervals_match_a_brute_force_profile_on_a_separated_2x2():
    result = interaction_logit(design_frame(COUNTS), cluster="decision")
    assert result.method == "Firth-penalised likelihood" and "all 0" in result.note
    assert result.interval == PROFILE == "Firth, profile-likelihood interval"
    best = optimize.minimize(lambda b: -penalised(b), np.zeros(4), method="BFGS",
                             options={"gtol": 1e-10})
    beta_hat, top = best.x, -best.fun
    table = result.table.set_index("term")
    assert table["coef"].to_numpy() == pytest.approx(beta_hat[1:], abs=1e-5)
    for j, term in enumerate(table.index, start=1):
        lo, hi = brute_interval(j, beta_hat, top)
        assert np.log(table.loc[term, "lo"]) == pytest.approx(lo, abs=1e-3)
        assert np.log(table.loc[term, "hi"]) == pytest.approx(hi, abs=1e-3)
        lrt = 2 * (top - brute_profile(j, 0.0))
        assert table.loc[term, "p_value"] == pytest.approx(stats.chi2.sf(lrt, 1), abs=1e-5)
    # the separated cell's log-odds is skewed: the profile interval is not symmetric
    company = np.log(table.loc["company_reads", ["lo", "hi"]].to_numpy(dtype=float))
    centre = np.log(table.loc["company_reads", "odds_ratio"])
    assert centre - company[0] > 1.2 * (company[1] - centre)


def test_ml_fits_keep_wald_intervals_and_clustered_firth_says_what_it_assumes():
    balanced = {(False, False): (12, 40), (True, False): (5, 40), (False, True): (9, 40),
                (True, True): (4, 40)}
    ml = interaction_logit(design_frame(balanced), cluster="decision")
    assert ml.interval == "Wald, model-based (inverse information)"
    clustered = interaction_logit(design_frame(COUNTS, customers=20), cluster="customer")
    assert clustered.interval == PROFILE
    assert "treat decisions as independent" in clustered.note


def test_the_profile_stays_smooth_far_from_the_estimate():
    # a cell all 1 and one nearly 0: far values of β_j push some linear predictors beyond
    # ±35, where a clipped likelihood would go flat and Newton steps would run away
    counts = {(False, False): (55, 60), (False, True): (60, 60), (True, False): (4, 60),
              (True, True): (56, 60)}
    frame = design_frame(counts)
    x, _ = design_matrix(frame)
    y = frame["override"].astype(float).to_numpy()
    beta = irls(x, y, firth=True)[0]
    top = penalised_loglik(x, y, beta)
    for j in range(1, 4):
        for direction in (-1, 1):
            grid = beta[j] + direction * np.linspace(0, 8, 17)
            drops = [2 * (top - profile_loglik(x, y, j, b, beta)[0]) for b in grid]
            steps = np.diff(drops)
            assert np.all(steps > 0) and np.all(np.abs(np.diff(steps)) < 10)  # no jumps
    result = interaction_logit(frame, cluster="decision")
    assert np.isfinite(result.table[["lo", "hi"]].to_numpy(dtype=float)).all()


def test_bisection_finds_the_crossing_between_known_inside_and_outside_points():
    from analysis.firth_profile import _bisect

    assert _bisect(lambda b: b**2 - 3.84, 0.0, 5.0) == pytest.approx(np.sqrt(3.84), abs=1e-8)
    assert _bisect(lambda b: b**2 - 3.84, 0.0, -5.0) == pytest.approx(-np.sqrt(3.84), abs=1e-8)
