"""Sample-size planning against statsmodels' power functions and against simulation."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.planning import (
    interaction_effect,
    n_for_width,
    n_interaction,
    n_two_proportions,
    plan,
    power_curve_plot,
    power_two_proportions,
    variance_ratio,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("p1", "p2"), [(0.3, 0.4), (0.1, 0.25), (0.8, 0.6)])
def test_two_proportions_match_statsmodels(p1, p2):
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    expected = NormalIndPower().solve_power(effect_size=proportion_effectsize(p1, p2),
                                            alpha=0.05, power=0.8, ratio=1.0)
    assert n_two_proportions(p1, p2) == pytest.approx(expected, rel=1e-4)
    n = n_two_proportions(p1, p2, method="wald")
    assert power_two_proportions(p1, p2, n) == pytest.approx(0.8, abs=1e-6)


def test_wald_sample_size_reaches_the_power_in_simulation():
    p1, p2 = 0.3, 0.45
    n = math.ceil(n_two_proportions(p1, p2, method="wald"))
    rng = np.random.default_rng(0)
    a = rng.binomial(n, p1, size=4000) / n
    b = rng.binomial(n, p2, size=4000) / n
    se = np.sqrt(a * (1 - a) / n + b * (1 - b) / n)
    power = np.mean(np.abs(a - b) / se > 1.959964)
    assert power == pytest.approx(0.8, abs=0.03)


def test_interaction_sample_size_reaches_the_power_in_simulation():
    cells = (0.3, 0.2, 0.45, 0.5)                        # neither, customer, company, both
    n = math.ceil(n_interaction(cells))
    rng = np.random.default_rng(1)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    hits = 0
    trials = 1500
    for _ in range(trials):
        k = rng.binomial(n, cells)
        k = np.clip(k, 1, n - 1)
        p = k / n
        beta = logit(p[3]) - logit(p[1]) - logit(p[2]) + logit(p[0])
        se = math.sqrt(np.sum(1 / (n * p * (1 - p))))   # the saturated logit's Wald SE
        hits += abs(beta / se) > 1.959964
    assert interaction_effect(cells) == pytest.approx(
        math.log(0.5 / 0.5) - math.log(0.2 / 0.8) - math.log(0.45 / 0.55) + math.log(0.3 / 0.7))
    assert hits / trials == pytest.approx(0.8, abs=0.035)


def test_recorded_probabilities_shrink_the_sample_by_the_variance_ratio():
    # p_i ~ Beta(a, b): Var(p) / (π(1 − π)) = 1 / (a + b + 1)
    rng = np.random.default_rng(2)
    a1, b1 = 1.2, 2.8            # π = 0.3, ρ = 0.2
    a2, b2 = 1.8, 2.2            # π = 0.45, ρ = 0.2
    rho = 1 / (a1 + b1 + 1)
    assert variance_ratio(rng.beta(a1, b1, size=200000)) == pytest.approx(rho, abs=0.005)
    n = math.ceil(n_two_proportions(0.3, 0.45, method="wald", ratio=rho))
    assert n == pytest.approx(n_two_proportions(0.3, 0.45, method="wald") * rho, abs=1)
    trials = 3000
    m1 = rng.beta(a1, b1, size=(trials, n)).mean(axis=1)
    m2 = rng.beta(a2, b2, size=(trials, n)).mean(axis=1)
    # the test on means of probabilities, variance estimated from the probabilities
    se = np.sqrt(rho * (0.3 * 0.7 + 0.45 * 0.55) / n)
    assert np.mean(np.abs(m1 - m2) / se > 1.959964) == pytest.approx(0.8, abs=0.03)
    # the same n with Bernoulli outcomes only has far less power
    assert power_two_proportions(0.3, 0.45, n) < 0.4


def test_width_and_plan_table():
    assert n_for_width(0.5, 0.05) == pytest.approx(1.959964**2 * 0.25 / 0.0025, rel=1e-6)
    table = plan(baseline=0.3, effect=0.1, interaction=2.0, ratio=0.5, cells=4,
                 decisions_per_tick=100).table()
    wald = table[table["analysis"].str.contains("Wald")].iloc[0]
    assert wald["per_cell"] == math.ceil(n_two_proportions(0.3, 0.4, method="wald"))
    assert wald["ticks"] == math.ceil(wald["per_cell"] * 4 / 100)
    assert wald["per_cell_with_probabilities"] == math.ceil(
        n_two_proportions(0.3, 0.4, method="wald", ratio=0.5))
    with pytest.raises(ValueError, match="effect"):
        plan(baseline=0.3)
    figure = power_curve_plot(0.3, 0.4, ratio=0.5)
    assert len(figure.axes[0].lines) == 3


def test_plan_command(tmp_path):
    out = tmp_path / "power.png"
    done = subprocess.run([sys.executable, "-m", "cli", "plan", "scenarios/tin_men.yaml",
                           "--baseline", "0.3", "--effect", "0.1", "--plot", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "4 cell(s)" in done.stdout and "Wald" in done.stdout and out.stat().st_size > 0
    bad = subprocess.run([sys.executable, "-m", "cli", "plan", "scenarios/tin_men.yaml",
                          "--baseline", "1.5", "--effect", "0.1"], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
