"""Planning a study: decisions per cell for a wanted power or interval width.

Formulas (z_a = z_{1−α/2}, z_b = z_{power}; n is decisions per cell):

- Two proportions p₁ vs p₂ (two-sided test, equal cells), Cohen's arcsine effect size
  h = 2·asin√p₁ − 2·asin√p₂: n = 2·((z_a + z_b) / h)² (2·asin√p̂ has variance 1/n,
  so the difference has 2/n). This is statsmodels'
  `NormalIndPower` with `proportion_effectsize`.
- The same with the unpooled normal (Wald) variance: n = (z_a + z_b)²·(p₁q₁ + p₂q₂)/(p₁ − p₂)².
- Interval width: a rate p to ± w needs n = z_a²·p·q / w²; a difference of two rates to ± w
  needs n = z_a²·(p₁q₁ + p₂q₂)/w² per cell.
- Logistic interaction customer_reads × company_reads in the 2 × 2 disclosure design with cell
  rates p₀₀, p₁₀, p₀₁, p₁₁: β_int = logit p₁₁ − logit p₁₀ − logit p₀₁ + logit p₀₀, and with n
  decisions per cell Var(β̂_int) = Σ_cells 1/(n·p·q), so n = (z_a + z_b)²·Σ 1/(p·q) / β_int².
- Recorded choice probabilities. If each decision records the probability p_i that the agent
  takes the outcome (from the model's log-probabilities), the cell rate can be estimated by
  the mean of the p_i instead of the mean of the Bernoulli(p_i) outcomes. With π = E[p_i],
  Var(Y_i) = π(1 − π) = E[p_i(1 − p_i)] + Var(p_i), so the mean of n outcomes has variance
  π(1 − π)/n while the mean of n probabilities has Var(p_i)/n = ρ·π(1 − π)/n, with the
  variance ratio ρ = Var(p_i)/(π(1 − π)) = 1 − E[p_i(1 − p_i)]/(π(1 − π)) in [0, 1]. Every
  Wald-type n above is multiplied by ρ (ρ = 1: the agent is deterministic in each decision and
  nothing is gained; ρ → 0: all the variance is the agent's sampling noise). The mean of p_i
  estimates the expected rate of the agent's policy on these decisions, not the realised share.
  `variance_ratio(p)` estimates ρ from recorded probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8


def _z(alpha: float, power: float) -> tuple[float, float]:
    return float(stats.norm.ppf(1 - alpha / 2)), float(stats.norm.ppf(power))


def _check_rate(name: str, p: float) -> None:
    if not 0 < p < 1:
        raise ValueError(f"{name} must be a rate strictly between 0 and 1, got {p}")


def n_two_proportions(p1: float, p2: float, *, alpha: float = ALPHA, power: float = POWER,
                      method: str = "arcsine", ratio: float = 1.0) -> float:
    """Decisions per cell to detect p₁ vs p₂ ("arcsine" = Cohen's h, "wald" = unpooled normal;
    `ratio` = ρ scales the Wald form for recorded choice probabilities). Not rounded."""
    _check_rate("p1", p1)
    _check_rate("p2", p2)
    if p1 == p2:
        raise ValueError("the two rates are equal: there is no effect to detect")
    za, zb = _z(alpha, power)
    if method == "arcsine":
        h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
        return 2 * ((za + zb) / h) ** 2
    if method == "wald":
        return ratio * (za + zb) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2
    raise ValueError(f"method must be 'arcsine' or 'wald', got {method!r}")


def power_two_proportions(p1: float, p2: float, n: float | np.ndarray, *, alpha: float = ALPHA,
                          ratio: float = 1.0) -> np.ndarray:
    """Power of the two-sided Wald test with n decisions per cell (ρ = `ratio`)."""
    za = stats.norm.ppf(1 - alpha / 2)
    se = np.sqrt(ratio * (p1 * (1 - p1) + p2 * (1 - p2)) / np.asarray(n, dtype=float))
    shift = abs(p1 - p2) / se
    return stats.norm.sf(za - shift) + stats.norm.cdf(-za - shift)


def n_for_width(p: float, width: float, *, p2: float | None = None, alpha: float = ALPHA,
                ratio: float = 1.0) -> float:
    """Decisions per cell for a 1−α interval of half-width `width` around a rate (or, with
    `p2`, around the difference of two rates)."""
    _check_rate("p", p)
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    za = stats.norm.ppf(1 - alpha / 2)
    variance = p * (1 - p) + (0.0 if p2 is None else p2 * (1 - p2))
    return float(ratio * za**2 * variance / width**2)


def interaction_effect(cells: Sequence[float]) -> float:
    """β_int (log-odds) of cell rates (p₀₀, p₁₀, p₀₁, p₁₁) = (neither, customer, company,
    both reading)."""
    p00, p10, p01, p11 = cells
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    return logit(p11) - logit(p10) - logit(p01) + logit(p00)


def n_interaction(cells: Sequence[float], *, alpha: float = ALPHA, power: float = POWER,
                  ratio: float = 1.0) -> float:
    """Decisions per cell to detect the customer × company interaction of a logit."""
    for name, p in zip(("p00", "p10", "p01", "p11"), cells, strict=True):
        _check_rate(name, p)
    beta = interaction_effect(cells)
    if abs(beta) < 1e-12:
        raise ValueError("the cell rates have no interaction on the log-odds scale")
    za, zb = _z(alpha, power)
    return ratio * (za + zb) ** 2 * sum(1 / (p * (1 - p)) for p in cells) / beta**2


def variance_ratio(probabilities: Sequence[float] | np.ndarray) -> float:
    """ρ̂ = Var(p_i) / (p̄(1 − p̄)) from recorded per-decision probabilities of an outcome."""
    p = np.asarray(probabilities, dtype=float)
    p = p[~np.isnan(p)]
    mean = p.mean()
    if len(p) < 2 or mean in (0.0, 1.0):
        return 1.0
    return float(min(1.0, p.var(ddof=1) / (mean * (1 - mean))))


@dataclass
class Plan:
    """Decisions per cell (rounded up) for each analysis, with what the design provides."""

    rows: list[dict[str, object]]
    cells: int
    decisions_per_tick: int | None

    def table(self):
        """The plan as a DataFrame: analysis, per_cell, total, ticks (when known)."""
        import pandas as pd

        return pd.DataFrame(self.rows)


def plan(*, baseline: float, effect: float | None = None, width: float | None = None,
         interaction: float | None = None, ratio: float | None = None, cells: int = 4,
         decisions_per_tick: int | None = None, alpha: float = ALPHA,
         power: float = POWER) -> Plan:
    """Decisions per cell for a design of `cells` conditions.

    `effect`: the difference in rates to detect (baseline vs baseline + effect);
    `width`: the interval half-width wanted for one rate; `interaction`: the interaction
    odds ratio to detect in the 2 × 2 disclosure design, with every other cell at `baseline`;
    `ratio`: ρ when choice probabilities are recorded (each row also shown with it).
    `decisions_per_tick` (from a scenario) turns decisions into ticks.
    """
    if effect is None and width is None and interaction is None:
        raise ValueError("give an effect, an interval width or an interaction odds ratio")
    rows: list[dict[str, object]] = []

    def add(analysis: str, n: float, n_prob: float | None) -> None:
        per_cell = math.ceil(n)
        row: dict[str, object] = {"analysis": analysis, "per_cell": per_cell,
                                  "total": per_cell * cells}
        if decisions_per_tick:
            row["ticks"] = math.ceil(per_cell * cells / decisions_per_tick)
        if n_prob is not None:
            row["per_cell_with_probabilities"] = math.ceil(n_prob)
        rows.append(row)

    if effect is not None:
        other = baseline + effect
        add(f"two proportions {baseline:g} vs {other:g} (arcsine)",
            n_two_proportions(baseline, other, alpha=alpha, power=power), None)
        add(f"two proportions {baseline:g} vs {other:g} (Wald)",
            n_two_proportions(baseline, other, alpha=alpha, power=power, method="wald"),
            None if ratio is None else n_two_proportions(
                baseline, other, alpha=alpha, power=power, method="wald", ratio=ratio))
    if width is not None:
        add(f"rate {baseline:g} to ± {width:g}", n_for_width(baseline, width, alpha=alpha),
            None if ratio is None else n_for_width(baseline, width, alpha=alpha, ratio=ratio))
    if interaction is not None:
        odds = baseline / (1 - baseline) * interaction
        both = odds / (1 + odds)
        grid = (baseline, baseline, baseline, both)
        add(f"interaction odds ratio {interaction:g} (both-reading cell {both:.3f})",
            n_interaction(grid, alpha=alpha, power=power),
            None if ratio is None else n_interaction(grid, alpha=alpha, power=power,
                                                     ratio=ratio))
    return Plan(rows, cells, decisions_per_tick)


def power_curve_plot(p1: float, p2: float, *, ratio: float | None = None,
                     alpha: float = ALPHA, n_max: int | None = None):
    """Power against decisions per cell for p₁ vs p₂ (and with recorded probabilities)."""
    from analysis.plots import new_figure

    target = n_two_proportions(p1, p2, alpha=alpha, method="wald")
    n = np.arange(2, int(n_max or max(3 * target, 20)) + 1)
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.plot(n, power_two_proportions(p1, p2, n, alpha=alpha), label="outcomes only")
    if ratio is not None:
        ax.plot(n, power_two_proportions(p1, p2, n, alpha=alpha, ratio=ratio),
                label=f"choice probabilities recorded (ρ = {ratio:g})")
    ax.axhline(POWER, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("decisions per cell")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1)
    ax.set_title(f"Power to detect {p1:g} vs {p2:g} at α = {alpha:g}")
    ax.legend()
    return fig
