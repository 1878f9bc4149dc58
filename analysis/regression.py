"""Logistic models that fit the disclosure design: two factors and their interaction, with
separation handled by Firth's penalised likelihood and cluster-robust standard errors.

`interaction_logit` models a binary outcome (override, sided_with_company) on
`customer_reads`, `company_reads` and `customer_reads:company_reads` (plus `model` as a
factor when it varies):

    logit P(y = 1) = β₀ + β_cust·C + β_comp·K + β_int·C·K (+ model effects)

- Maximum likelihood by IRLS. Separation (some cell's outcome all 0 or all 1, so an ML
  log-odds runs to ±∞) is detected from the cells of the design and from a fit that does not
  settle; the model is then refitted by **Firth's penalised likelihood** (Firth 1993),
  l*(β) = l(β) + ½·log|XᵀWX|, whose modified score is Xᵀ(y − p + h·(½ − p)) with h the
  diagonal of the hat matrix W^½X(XᵀWX)⁻¹XᵀW^½. Its estimates are finite; the method used
  is named in the output (`method`). Its intervals and p-values are those of the profile
  penalised likelihood, as R's logistf reports them (`analysis.firth_profile`): β_j's interval
  is {b : 2·(ℓ*(β̂) − max_{β₋ⱼ} ℓ*(b, β₋ⱼ)) ≤ χ²₁,0.95}; `interval` says "Firth,
  profile-likelihood interval" (ML fits: "Wald, <covariance>").
- Standard errors are cluster-robust, H⁻¹(Σ_g s_g s_gᵀ)H⁻¹ · G/(G−1) · (n−1)/(n−k), with
  s_g the sum of a cluster's score contributions x_i·(y_i − p_i) (Firth: the modified
  contributions), clustered by "customer", "agent", "run" or "decision" (model-based);
  the default "auto" is by run in sweeps and by customer in a single (repeated) market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.clusters import cluster_ids, covariance_label, sandwich
from analysis.firth_profile import profile_interval
from analysis.intervals import DEFAULT_LEVEL, z_value

TERMS = ("customer_reads", "company_reads", "customer_reads:company_reads")
DIVERGED = 15.0
"""An ML |log-odds| beyond this after convergence is taken as separation."""


@dataclass
class InteractionResult:
    """An interaction logit: a table of terms (coef, se, odds_ratio, lo, hi, p_value), the
    method ("maximum likelihood" or "Firth-penalised likelihood"), the covariance used, how
    the intervals were computed (`interval`), and a note (why Firth, or why nothing was
    fitted)."""

    outcome: str
    method: str
    cluster: str
    n: int
    n_clusters: int
    table: pd.DataFrame
    note: str = ""
    interval: str = ""


PROFILE = "Firth, profile-likelihood interval"
"""How the intervals of a Firth fit are computed, as the output names it."""


def irls(x: np.ndarray, y: np.ndarray, *, firth: bool = False, max_iter: int = 200,
         tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Logistic regression by Newton steps with step-halving on the (penalised) likelihood.

    Returns (β, (XᵀWX)⁻¹, per-row score contributions, converged). With `firth`, the
    objective is l(β) + ½ log|XᵀWX| and the scores are the modified ones. A step that no
    halving makes non-decreasing is never taken: the fit stops there, not converged.
    """
    n, k = x.shape
    beta = np.zeros(k)

    def objective(b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        eta = np.clip(x @ b, -35, 35)
        p = 1.0 / (1.0 + np.exp(-eta))
        w = p * (1 - p)
        info = (x * w[:, None]).T @ x
        loglik = float(np.sum(y * eta - np.logaddexp(0, eta)))
        resid = y - p
        if firth:
            sign, logdet = np.linalg.slogdet(info)
            loglik += 0.5 * logdet if sign > 0 else -np.inf
            inv = np.linalg.pinv(info)
            h = w * np.einsum("ij,jk,ik->i", x, inv, x)
            resid = resid + h * (0.5 - p)
        return loglik, x * resid[:, None], info, p

    value, scores, info, _ = objective(beta)
    converged = False
    for _ in range(max_iter):
        step = np.linalg.lstsq(info, scores.sum(axis=0), rcond=None)[0]
        t, new = 1.0, None
        while t >= 1e-8:
            trial = beta + t * step
            trial_value, trial_scores, trial_info, _ = objective(trial)
            if trial_value >= value - 1e-12:
                new, new_value, new_scores, new_info = (trial, trial_value, trial_scores,
                                                        trial_info)
                break
            t /= 2
        if new is None:           # no step raises the objective: stop, not converged
            break
        done = np.max(np.abs(new - beta)) < 1e-8 and abs(new_value - value) < tol
        beta, value, scores, info = new, new_value, new_scores, new_info
        if done:
            converged = True
            break
    return beta, np.linalg.pinv(info), scores, converged


def design_matrix(data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Constant, the two reader indicators, their product, and model dummies when it varies."""
    c = data["customer_reads"].astype(float).to_numpy()
    k = data["company_reads"].astype(float).to_numpy()
    columns = [np.ones(len(data)), c, k, c * k]
    names = ["const", *TERMS]
    if "model" in data and data["model"].nunique(dropna=True) > 1:
        levels = sorted(data["model"].dropna().unique().tolist(), key=str)
        for value in levels[1:]:
            columns.append((data["model"] == value).to_numpy(dtype=float))
            names.append(f"model[{value}]")
    return np.column_stack(columns), names


def separated_cells(data: pd.DataFrame, outcome: str) -> list[str]:
    """Cells of customer_reads × company_reads (× model) whose outcome is all 0 or all 1."""
    keys = ["customer_reads", "company_reads"]
    if "model" in data and data["model"].nunique(dropna=True) > 1:
        keys.append("model")
    out = []
    for key, cell in data.groupby(keys, observed=True):
        y = cell[outcome].astype(float)
        if y.min() == y.max():
            label = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
            out.append(f"{label}: all {int(y.iloc[0])}")
    return out


def interaction_logit(decisions: pd.DataFrame, outcome: str = "override", *,
                      cluster: str | None = "auto", method: str = "auto",
                      level: float = DEFAULT_LEVEL) -> InteractionResult:
    """Fit the customer-reads × company-reads logit of `outcome` (see the module doc).

    `method` is "auto" (ML, Firth when separation is found), "ml" or "firth". Rows with a
    null outcome (unreadable answers) are dropped. A forced "ml" fit under separation (or one
    that does not converge) keeps its coefficients but has NaN standard errors, intervals and
    p-values, and its note says why; "firth" and "auto" name the separated cells alike.
    """
    columns = ["term", "coef", "se", "odds_ratio", "lo", "hi", "p_value"]
    empty = pd.DataFrame(columns=columns)
    if outcome not in decisions or "customer_reads" not in decisions:
        return InteractionResult(outcome, "none", "", 0, 0, empty,
                                 note="needs the outcome and the disclosure columns")
    data = decisions[decisions[outcome].notna()]
    if data.empty or data["customer_reads"].nunique() < 2 or data["company_reads"].nunique() < 2:
        return InteractionResult(outcome, "none", "", len(data), 0, empty,
                                 note="both principals' reading must vary to fit the "
                                      "interaction (all four disclosure conditions)")
    y = data[outcome].astype(float).to_numpy()
    x, names = design_matrix(data)
    kind, ids = cluster_ids(data, cluster)
    n_clusters = len(data) if ids is None else int(ids.max()) + 1
    cells = separated_cells(data, outcome)
    if method not in ("auto", "ml", "firth"):
        raise ValueError(f"method must be 'auto', 'ml' or 'firth', got {method!r}")
    note = ""
    beta, cov, scores, ok = irls(x, y)
    diverged = not ok or bool(np.any(np.abs(beta) > DIVERGED))
    use_firth = method == "firth" or (method == "auto" and (bool(cells) or diverged))
    if use_firth and (cells or diverged):
        note = ("separation (" + ("; ".join(cells) if cells else "the ML fit diverges") +
                "): maximum-likelihood odds ratios would be infinite, so the model is "
                "Firth-penalised")
    elif method == "ml" and (cells or diverged):
        note = ("separation (" + ("; ".join(cells) if cells else "the ML fit diverges") +
                "): ML estimates are not finite, so no standard errors, intervals or "
                "p-values are given")
    if use_firth:
        beta, cov, scores, ok = irls(x, y, firth=True)
    if ids is not None:
        cov = sandwich(cov, scores, ids)
    se = np.sqrt(np.diag(cov))
    if not use_firth and (cells or diverged):
        se = np.full_like(se, np.nan)        # an ML fit under separation has no inference
    z = z_value(level)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        table = pd.DataFrame({"term": names, "coef": beta, "se": se,
                              "odds_ratio": np.exp(beta), "lo": np.exp(beta - z * se),
                              "hi": np.exp(beta + z * se),
                              "p_value": 2 * stats.norm.sf(np.abs(beta / se))})
    interval = f"Wald, {covariance_label(kind, n_clusters)}"
    if use_firth:
        interval = PROFILE
        ends = [profile_interval(x, y, beta, j, level=level, se=se[j])
                for j in range(1, len(names))]
        table.loc[1:, "lo"] = np.exp([e[0] for e in ends])
        table.loc[1:, "hi"] = np.exp([e[1] for e in ends])
        table.loc[1:, "p_value"] = [e[2] for e in ends]
        if kind != "decision":
            note = (note + "; " if note else "") + (
                "the profile-likelihood intervals and p-values treat decisions as "
                f"independent; the standard errors are cluster-robust by {kind}")
    table = table[table["term"] != "const"].reset_index(drop=True)
    name = "Firth-penalised likelihood" if use_firth else "maximum likelihood"
    if not ok:
        note = (note + "; " if note else "") + "the fit did not converge"
    return InteractionResult(outcome, name, kind, len(y), n_clusters, table, note=note,
                             interval=interval)


def cluster_bootstrap_rate(values: np.ndarray, ids: np.ndarray | None, *, n_boot: int = 2000,
                           seed: int = 0, level: float = DEFAULT_LEVEL
                           ) -> tuple[float, float, float]:
    """A rate (mean of 0/1 values, NaN dropped) with a percentile interval that resamples whole
    clusters (customers in a repeated market, runs in a sweep): (rate, lo, hi)."""
    from analysis.intervals import bootstrap_mean_interval

    return bootstrap_mean_interval(values, ids, n_boot=n_boot, seed=seed, level=level)
