"""Rates against a continuous knob: observed points and a fitted logistic curve.

For a knob x (outcome_observability, monitoring, a swept number) the curve is a logistic
regression of the outcome on a polynomial of the standardised knob,
logit P(y = 1) = Σ_d γ_d·u^d with u = (x − mean)/sd, and its band is pointwise Wald on the
logit scale, η(x) ± z·√(b(x)ᵀ V b(x)), mapped back by the logistic function. V is the
cluster-robust covariance with the clusters of `analysis.clusters` (the logistic models'
rule: "auto" is by run in sweeps, by customer in a repeated market), computed by statsmodels'
GLM with cov_type="cluster": H⁻¹(Σ_g s_g s_gᵀ)H⁻¹ · G/(G−1) · (n−1)/(n−k); for independent
decisions it is the model-based H⁻¹. `KnobCurve.covariance` says which.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.clusters import cluster_ids, count_clusters, covariance_label, resolve_cluster
from analysis.grouping import group_keys, iter_groups
from analysis.intervals import DEFAULT_LEVEL, wilson_interval, z_value


@dataclass
class KnobCurve:
    """Observed rates per knob value (`points`) and a fitted logistic curve (`curve`, with a
    `covariance` column per group), the cluster kind and the covariance of the bands."""

    knob: str
    outcome: str
    points: pd.DataFrame
    curve: pd.DataFrame
    note: str = ""
    cluster: str = "decision"
    covariance: str = ""


def knob_curve(decisions: pd.DataFrame, knob: str, outcome: str = "override",
               by: str | Sequence[str] | None = None, *, degree: int = 1, grid: int = 50,
               cluster: str | None = "auto", level: float = DEFAULT_LEVEL) -> KnobCurve:
    """Rate of `outcome` against a continuous knob, per group of `by`.

    `points`: group, knob value, k, n, rate and Wilson interval. `curve`: group, knob value on
    a grid, fitted probability from a logistic regression on a polynomial of the knob (of
    `degree`), and a pointwise band (Wald on the logit scale with the covariance chosen by
    `cluster`, see the module doc, mapped back). Groups whose knob takes fewer than
    degree + 1 values get points but no curve.
    """
    keys = group_keys(by)
    points, curves, notes = [], [], []
    z = z_value(level)
    data = decisions[decisions[outcome].notna()]
    kind, ids = cluster_ids(data, resolve_cluster(data, cluster, keys))  # once, all groups
    labels = pd.Series(np.arange(len(data)) if ids is None else ids, index=data.index)
    for key, group in iter_groups(data, keys):
        x = pd.to_numeric(group[knob], errors="coerce").to_numpy(dtype=float)
        y = group[outcome].astype(float).to_numpy()
        for value in np.unique(x[~np.isnan(x)]):
            at = x == value
            k, n = int(y[at].sum()), int(at.sum())
            lo, hi = wilson_interval(k, n, level)
            points.append({**key, knob: value, "k": k, "n": n, "rate": k / n,
                           "lo": float(lo), "hi": float(hi)})
        group_ids = None if ids is None else labels.loc[group.index].to_numpy()
        fitted = fit_curve(x, y, degree, grid, z, group_ids, kind)
        if isinstance(fitted, str):
            label = ", ".join(f"{k}={v}" for k, v in key.items())
            notes.append(f"{label or 'all'}: {fitted}")
            continue
        fitted = fitted.rename(columns={"x": knob})
        for name, value in key.items():
            fitted.insert(0, name, value)
        curves.append(fitted)
    points_frame = pd.DataFrame(points, columns=[*keys, knob, "k", "n", "rate", "lo", "hi"])
    curve_frame = (pd.concat(curves, ignore_index=True) if curves else
                   pd.DataFrame(columns=[*keys, knob, "fitted", "lo", "hi", "covariance"]))
    return KnobCurve(knob, outcome, points_frame, curve_frame, note="; ".join(notes),
                     cluster=kind, covariance=covariance_label(
                         kind, count_clusters(ids, len(data))))


def fit_curve(x: np.ndarray, y: np.ndarray, degree: int, grid: int, z: float,
              ids: np.ndarray | None = None, kind: str = "decision") -> pd.DataFrame | str:
    """The fitted curve on `grid` points with its band (x, fitted, lo, hi, covariance), or a
    sentence saying why there is none; `ids` are the rows' cluster labels of `kind` (None:
    model-based; a single cluster cannot be clustered and is model-based too)."""
    import statsmodels.api as sm

    keep = ~np.isnan(x)
    x, y = x[keep], y[keep]
    if len(np.unique(x)) < degree + 1:
        return f"needs at least {degree + 1} distinct values to fit a curve"
    if y.min() == y.max():
        return f"the outcome is {int(y[0])} everywhere; no curve"
    centre, scale = x.mean(), (x.std() or 1.0)

    def basis(values: np.ndarray) -> np.ndarray:
        u = (values - centre) / scale
        return np.column_stack([u ** d for d in range(degree + 1)])

    codes = None if ids is None else pd.factorize(np.asarray(ids)[keep])[0]
    clustered = codes is not None and codes.max() >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(y, basis(x), family=sm.families.Binomial()).fit(
            **({"cov_type": "cluster", "cov_kwds": {"groups": codes}} if clustered else {}))
    xs = np.linspace(x.min(), x.max(), grid)
    design = basis(xs)
    eta = design @ fit.params
    se = np.sqrt(np.einsum("ij,jk,ik->i", design, np.asarray(fit.cov_params()), design))
    label = (covariance_label(kind, int(codes.max()) + 1) if clustered else
             covariance_label("decision", len(y)))
    return pd.DataFrame({"x": xs, "fitted": expit(eta), "lo": expit(eta - z * se),
                         "hi": expit(eta + z * se), "covariance": label})


def expit(values: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^−v)."""
    return 1.0 / (1.0 + np.exp(-values))
