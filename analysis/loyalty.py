"""The agent's revealed weight on the company, λ̂, from a conditional logit.

For each valid decision, the choice set is the listed products the customer can afford, plus
buying nothing when some decision of the group bought nothing. Each product j gets the two
features of the rational baseline (`agents.rational`): the customer's and the company's
utility, each min-max rescaled to [0, 1] over the decision's affordable products (a flat row
is all ones). Buying nothing is worth 0 to both principals; it goes through the same rescaling
(unit span for a flat row) and carries its own constant α₀ (a propensity to buy nothing). The
agent is modelled as choosing j with probability

    P(j) = exp(β_u·u_j + β_c·c_j + α₀·[j = nothing]) / Σ_k exp(β_u·u_k + β_c·c_k + α₀·[k = nothing])

and the revealed weight on the company is λ̂ = β_c / (β_u + β_c). For the rational baseline
with penalties 0 this is exactly its model: V = (1 − λ)·u + λ·c + noise·Gumbel, so
β_u = (1 − λ)/noise, β_c = λ/noise and λ̂ estimates λ. Its standard error is the delta
method's, ∇λ = (−β_c, β_u)/(β_u + β_c)², se(λ̂)² = ∇λᵀ V ∇λ, with V the cluster-robust
sandwich of `analysis.choice_inference` (G/(G−1)·H⁻¹(Σ_g s_g s_gᵀ)H⁻¹, clusters as for the
logistic models: "auto" is by run in sweeps, by customer in a repeated market, resolved once
for the whole table so every group uses the same covariance) or, for
independent decisions, the model-based H⁻¹; the `covariance` column says which.

Decisions left out: unreadable or failed answers (no choice to model), choices of a product
over budget (outside the choice set), and decisions with nothing affordable. When no decision
of a group bought nothing, α₀ would be −∞ and buying nothing is left out of the choice sets
(the output says so). The per-option utilities come from the `option_*` columns of
`decisions.parquet` (`sim.engine.records.OPTION_COLUMNS`); runs recorded before they existed have
no λ̂.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.choice_inference import robust_choice_cov
from analysis.clusters import cluster_ids, count_clusters, covariance_label, resolve_cluster
from analysis.grouping import group_keys
from analysis.intervals import DEFAULT_LEVEL, z_value
from sim.engine.records import OPTION_COLUMNS

MAX_ITER = 100
DIVERGED = 50.0
"""A fitted |β| beyond this means the choices are (nearly) deterministic in the features."""

LOYALTY_COLUMNS = ["n_decisions", "n_left_out", "beta_customer", "beta_customer_se",
                   "beta_company", "beta_company_se", "lambda_hat", "lambda_se", "lambda_lo",
                   "lambda_hi", "outside_option", "cluster", "covariance", "note"]


@dataclass
class ChoiceSets:
    """Stacked alternatives: features X (rows × 3: u, c, nothing), the decision of each row,
    which row was chosen, and the decisions' positions in the input frame."""

    x: np.ndarray
    decision: np.ndarray
    chosen: np.ndarray
    rows: np.ndarray
    left_out: int


def has_options(decisions: pd.DataFrame) -> bool:
    """Whether the decisions carry the per-option columns λ̂ needs."""
    return all(c in decisions for c in OPTION_COLUMNS)


def choice_sets(decisions: pd.DataFrame) -> ChoiceSets:
    """Build the conditional logit's choice sets from decision rows (see the module doc)."""
    xs: list[np.ndarray] = []
    dec: list[np.ndarray] = []
    chosen: list[np.ndarray] = []
    rows: list[int] = []
    left_out = 0
    cols = [decisions[c].to_numpy(dtype=object) for c in (*OPTION_COLUMNS, "listing",
                                                           "choice")]
    valid = decisions["valid"].to_numpy(dtype=bool)
    for i, (cu, ku, feas, listing, choice) in enumerate(zip(*cols, strict=True)):
        if not valid[i] or cu is None or listing is None:
            left_out += 1
            continue
        feas = np.asarray(feas, dtype=bool)
        if not feas.any():
            left_out += 1
            continue
        ids = np.array(str(listing).split("|"), dtype=object)
        if choice is None or (isinstance(choice, float) and np.isnan(choice)):
            pick = -1                                    # bought nothing
        else:
            where = np.flatnonzero(ids == choice)
            if len(where) == 0 or not feas[where[0]]:
                left_out += 1                            # over budget or not listed
                continue
            pick = int(np.flatnonzero(feas).tolist().index(where[0]))
        u = _rescale(np.asarray(cu, dtype=np.float64), feas)
        c = _rescale(np.asarray(ku, dtype=np.float64), feas)
        m = len(u) - 1
        x = np.zeros((m + 1, 3))
        x[:m, 0], x[:m, 1] = u[:m], c[:m]
        x[m] = (u[m], c[m], 1.0)
        flags = np.zeros(m + 1, dtype=bool)
        flags[pick if pick >= 0 else m] = True
        xs.append(x)
        chosen.append(flags)
        dec.append(np.full(m + 1, len(rows)))
        rows.append(i)
    if not xs:
        return ChoiceSets(np.zeros((0, 3)), np.zeros(0, dtype=int), np.zeros(0, dtype=bool),
                          np.zeros(0, dtype=int), left_out)
    return ChoiceSets(np.concatenate(xs), np.concatenate(dec), np.concatenate(chosen),
                      np.array(rows), left_out)


def _rescale(values: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Affordable entries min-max rescaled as the rational baseline does, then buying nothing
    (raw value 0) through the same map; a flat row gets unit span."""
    low, high = values[feasible].min(), values[feasible].max()
    span = high - low
    if span > 0:
        scaled = (values[feasible] - low) / span
        nothing = (0.0 - low) / span
    else:
        scaled = np.ones(int(feasible.sum()))
        nothing = 1.0 + (0.0 - low)
    return np.append(scaled, nothing)


def fit_clogit(x: np.ndarray, decision: np.ndarray, chosen: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Newton-Raphson for a conditional logit. Returns (β, −H⁻¹, per-decision scores, ok)."""
    k = x.shape[1]
    beta = np.zeros(k)

    def pieces(b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return clogit_pieces(x, decision, chosen, b)

    loglik, scores, info = pieces(beta)
    ok = False
    for _ in range(MAX_ITER):
        grad = scores.sum(axis=0)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        accepted = ascend(pieces, beta, step, loglik)
        if accepted is None:                  # no step raises the likelihood: stop here
            break
        new, (new_loglik, new_scores, new_info) = accepted
        converged = abs(new_loglik - loglik) < 1e-10 and np.max(np.abs(new - beta)) < 1e-7
        beta, loglik, scores, info = new, new_loglik, new_scores, new_info
        if converged:
            ok = True
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((k, k), np.nan)
    ok = ok and bool(np.all(np.abs(beta) < DIVERGED)) and bool(np.all(np.isfinite(cov)))
    return beta, cov, scores, ok


def clogit_pieces(x: np.ndarray, decision: np.ndarray, chosen: np.ndarray, beta: np.ndarray
                  ) -> tuple[float, np.ndarray, np.ndarray]:
    """(log-likelihood, per-decision scores, information) of the conditional logit at `beta`.

    The log-likelihood is Σ_d [η_chosen − log Σ_j exp η_j] with the log-sum-exp taken about
    each decision's largest η, so it stays finite where the chosen probability underflows."""
    n_dec = int(decision.max()) + 1
    k = x.shape[1]
    eta = x @ beta
    top = np.full(n_dec, -np.inf)
    np.maximum.at(top, decision, eta)
    w = np.exp(eta - top[decision])
    total = np.bincount(decision, weights=w, minlength=n_dec)
    log_total = top + np.log(total)                      # log-sum-exp per decision
    p = w / total[decision]
    loglik = float(np.sum(eta[chosen] - log_total[decision[chosen]]))
    mean = np.zeros((n_dec, k))
    np.add.at(mean, decision, p[:, None] * x)
    centred = x - mean[decision]
    scores = np.zeros((n_dec, k))
    scores[decision[chosen]] = centred[chosen]
    info = (p[:, None] * centred).T @ centred
    return loglik, scores, info


def ascend(pieces: Callable[[np.ndarray], tuple], beta: np.ndarray, step: np.ndarray,
           loglik: float, *, smallest: float = 1e-6) -> tuple[np.ndarray, tuple] | None:
    """The first of β + t·step, t = 1, ½, ¼, … down to `smallest`, whose log-likelihood (the
    first item of `pieces`) is not lower than `loglik`, with its pieces; None when there is
    none (the fit stops at β and is reported as not converged)."""
    t = 1.0
    while t >= smallest:
        new = beta + t * step
        result = pieces(new)
        if np.isfinite(result[0]) and result[0] >= loglik - 1e-12:
            return new, result
        t /= 2
    return None


def identified(x: np.ndarray, decision: np.ndarray) -> bool:
    """Whether the features vary independently within decisions (the logit's β identified)."""
    n_dec = int(decision.max()) + 1
    mean = np.zeros((n_dec, x.shape[1]))
    np.add.at(mean, decision, x)
    mean /= np.bincount(decision, minlength=n_dec)[:, None]
    centred = x - mean[decision]
    return int(np.linalg.matrix_rank(centred, tol=1e-9 * max(1.0, np.abs(centred).max()))
               ) == x.shape[1]


def revealed_loyalty(decisions: pd.DataFrame, by: str | Sequence[str] | None = None, *,
                     cluster: str | None = "auto",
                     level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """λ̂ per group of `by` columns (overall when None) with a delta-method interval.

    Columns: the `by` columns and `LOYALTY_COLUMNS`. `cluster` ("decision", "customer",
    "agent", "run" or "auto") chooses the covariance: model-based for "decision", else the
    cluster-robust sandwich (`covariance` names it). `outside_option` says whether buying
    nothing was a modelled alternative. Empty when the runs lack the per-option columns.
    """
    keys = group_keys(by)
    if not has_options(decisions):
        return pd.DataFrame(columns=[*keys, *LOYALTY_COLUMNS])
    groups = (decisions.groupby(keys, dropna=False, sort=True, observed=True) if keys
              else [((), decisions)])
    kind = resolve_cluster(decisions, cluster, keys)   # once: one covariance for the table
    rows = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key, strict=True))
        row.update(loyalty_of(group, cluster=kind, level=level))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *LOYALTY_COLUMNS])


def loyalty_of(group: pd.DataFrame, *, cluster: str | None = "auto",
               level: float = DEFAULT_LEVEL) -> dict[str, object]:
    """λ̂ and its interval for one group of decisions (see `revealed_loyalty`); a `cluster` of
    "auto" is resolved on this group alone (`revealed_loyalty` resolves it on the whole
    frame and passes the concrete kind)."""
    sets = choice_sets(group)
    nan = float("nan")
    out: dict[str, object] = dict.fromkeys(LOYALTY_COLUMNS, nan)
    kind, ids = cluster_ids(group, cluster)
    out.update(n_decisions=len(sets.rows), n_left_out=sets.left_out, cluster=kind,
               outside_option=False, note="")
    if len(sets.rows) < 2:
        out["note"] = "too few modelled decisions"
        return out
    nothing = sets.x[:, 2] == 1.0
    outside = bool((sets.chosen & nothing).any())
    keep = np.ones(len(sets.x), dtype=bool) if outside else ~nothing
    x = sets.x[keep] if outside else sets.x[keep][:, :2]
    decision, chosen = sets.decision[keep], sets.chosen[keep]
    if not identified(x, decision):
        out["note"] = ("the utilities do not vary independently within listings (e.g. two "
                       "products, one best for each principal): only β_customer − β_company "
                       "is identified, so λ̂ is not")
        return out
    beta, cov, scores, ok = fit_clogit(x, decision, chosen)
    rows_ids = None if ids is None else pd.factorize(ids[sets.rows])[0]
    if rows_ids is not None:
        cov = robust_choice_cov(cov, scores, rows_ids)
    out["covariance"] = covariance_label(kind, count_clusters(rows_ids, len(sets.rows)))
    out["outside_option"] = outside
    notes = [] if outside else ["buying nothing was never chosen, so it is not a modelled "
                                "alternative"]
    bu, bc = beta[0], beta[1]
    with np.errstate(invalid="ignore"):  # a diverged fit has no usable covariance
        out.update(beta_customer=bu, beta_company=bc, beta_customer_se=np.sqrt(cov[0, 0]),
                   beta_company_se=np.sqrt(cov[1, 1]))
    s = bu + bc
    if not ok:
        notes.append("the fit did not converge to finite weights (choices are deterministic "
                     "in the utilities, e.g. noise 0): λ̂ is not identified by a logit")
    elif s <= 0:
        notes.append("β_customer + β_company ≤ 0: the agent does not follow the principals' "
                      "combined utility, so λ̂ is not a weight")
    else:
        lam = bc / s
        grad = np.array([-bc, bu]) / s**2
        se = float(np.sqrt(grad @ cov[:2, :2] @ grad))
        z = z_value(level)
        out.update(lambda_hat=lam, lambda_se=se, lambda_lo=lam - z * se,
                   lambda_hi=lam + z * se)
    out["note"] = "; ".join(notes)
    return out
