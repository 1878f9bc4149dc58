"""Information-asymmetry effects: observation gaps, pairwise tests, regressions, knob curves.

- `observation_gap`: how override and sided-with-company rates change when a principal reads
  the agent's explanation (customer: disclosure in {customer, both}; company: {company, both})
  versus when it does not: the market form of behaving differently when watched.
- `pairwise_tests`: Fisher's exact (or chi-square) test between every pair of conditions,
  Holm-corrected within each family (group x metric).
- `logistic_regression`: logit of override on the information knobs, with model and
  temperature as factors when they vary; odds ratios with Wald intervals.
- `knob_curve` (`analysis.knob_curves`, re-exported): for a continuous knob
  (outcome_observability, monitoring, a swept number), the observed rates with Wilson
  intervals and a fitted logistic curve with a cluster-robust 95% band.

All rates here are over valid decisions (override and sided_with_company are null otherwise).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.clusters import cluster_ids
from analysis.grouping import iter_groups as _groups
from analysis.intervals import (
    DEFAULT_LEVEL,
    chi2_p,
    fisher_p,
    holm,
    newcombe_interval,
    z_value,
)
from analysis.knob_curves import KnobCurve, knob_curve  # noqa: F401 - re-exported
from analysis.load import COMPANY_READERS, CUSTOMER_READERS
from analysis.metrics import group_keys, true_count
from analysis.ordering import DISCLOSURE_ORDER, condition_order  # noqa: F401 - re-exported

OBSERVERS: dict[str, frozenset[str]] = {"customer": CUSTOMER_READERS,
                                        "company": COMPANY_READERS}
"""Principal -> disclosure conditions in which it reads the agent's explanation."""


BINARY_METRICS = ("override", "sided_with_company")

CONTINUOUS_KNOBS = ("outcome_observability", "monitoring", "explanation_reveals")
"""Numeric information knobs recorded on (or loaded onto) every decision row."""

SEPARATION_COEF = 15.0
SEPARATION_SE = 50.0
"""A fitted |log-odds| or standard error beyond these flags (quasi-)complete separation."""


def observation_gap(decisions: pd.DataFrame, by: str | Sequence[str] | None = None, *,
                    metrics: Sequence[str] = BINARY_METRICS,
                    level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """Rates when a principal reads the explanation minus rates when it does not.

    One row per group x observer (customer, company) x metric, with the watched and unwatched
    counts and rates, `gap` = watched − unwatched with Newcombe's interval, Fisher's exact
    p-value and `p_holm` (Holm within each group). A metric identical to an earlier one on a
    group's decisions (see `identical_metrics`) is tested once; `table.attrs` says so.
    """
    keys = group_keys(by)
    rows = []
    skipped: dict[str, str] = {}
    for key, group in _groups(decisions, keys):
        disclosure = group["disclosure"].astype(object)
        family = []
        same = identical_metrics(group, list(metrics))
        skipped.update(same)
        for observer, readers in OBSERVERS.items():
            watched = disclosure.isin(readers).to_numpy()
            for metric in (m for m in metrics if m not in same):
                k1, n1 = true_count(group.loc[watched, metric])
                k2, n2 = true_count(group.loc[~watched, metric])
                gap, lo, hi = newcombe_interval(k1, n1, k2, n2, level)
                family.append({**key, "observer": observer, "metric": metric,
                               "k_watched": k1, "n_watched": n1,
                               "rate_watched": k1 / n1 if n1 else np.nan,
                               "k_unwatched": k2, "n_unwatched": n2,
                               "rate_unwatched": k2 / n2 if n2 else np.nan,
                               "gap": gap, "gap_lo": lo, "gap_hi": hi,
                               "p_value": fisher_p(k1, n1, k2, n2)})
        rows += with_holm(family)
    table = pd.DataFrame(rows, columns=[*keys, "observer", "metric", "k_watched", "n_watched",
                                        "rate_watched", "k_unwatched", "n_unwatched",
                                        "rate_unwatched", "gap", "gap_lo", "gap_hi", "p_value",
                                        "p_holm"])
    table.attrs["identical"] = skipped
    table.attrs["note"] = identical_note(skipped)
    return table


def identical_metrics(group: pd.DataFrame, metrics: Sequence[str]) -> dict[str, str]:
    """Metrics equal to an earlier one on every decision of `group` (same nulls, same values),
    mapped to that earlier metric: e.g. sided_with_company -> override when every listing has
    two products. Such a metric is the same test, so it is tested once, not twice."""
    same: dict[str, str] = {}
    for i, metric in enumerate(metrics):
        for first in metrics[:i]:
            if first in same or metric not in group or first not in group:
                continue
            a, b = group[first], group[metric]
            if a.isna().equals(b.isna()) and (a.dropna().astype(bool)
                                              == b.dropna().astype(bool)).all():
                same[metric] = first
                break
    return same


def identical_note(same: Mapping[str, str]) -> str:
    """One sentence naming metrics tested once because they equal another on this design."""
    if not same:
        return ""
    pairs = ", ".join(f"{m} is identical to {f}" for m, f in same.items())
    return f"{pairs} on every decision of this design, so it is tested once (as the latter)"


def with_holm(family: list[dict]) -> list[dict]:
    """Add `p_holm` (Holm-adjusted within this family) to each row's `p_value`; return rows."""
    for row, p in zip(family, holm([r["p_value"] for r in family]), strict=True):
        row["p_holm"] = p
    return family


def pairwise_tests(decisions: pd.DataFrame, condition: str = "disclosure",
                   by: str | Sequence[str] | None = None, *,
                   metrics: Sequence[str] = BINARY_METRICS, test: str = "fisher",
                   level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """Test every pair of `condition` values for a difference in each binary metric.

    `test` is "fisher" (exact, the default) or "chi2" (Pearson with Yates' correction).
    One row per group x metric x pair (a, b): counts, rates, `diff` = rate_a − rate_b with
    Newcombe's interval, `p_value` and `p_holm` (Holm within each group x metric family).
    A metric identical to an earlier one on a group's decisions is tested once (as the
    earlier); `table.attrs["identical"]` and `table.attrs["note"]` say so.
    """
    if test not in ("fisher", "chi2"):
        raise ValueError(f"test must be 'fisher' or 'chi2', got {test!r}")
    testing = fisher_p if test == "fisher" else chi2_p
    keys = group_keys(by)
    rows = []
    skipped: dict[str, str] = {}
    for key, group in _groups(decisions, keys):
        levels = sorted(group[condition].dropna().unique().tolist(), key=condition_order)
        same = identical_metrics(group, list(metrics))
        skipped.update(same)
        for metric in (m for m in metrics if m not in same):
            counts = {v: true_count(group.loc[group[condition] == v, metric]) for v in levels}
            family = []
            for a, b in itertools.combinations(levels, 2):
                (ka, na), (kb, nb) = counts[a], counts[b]
                diff, lo, hi = newcombe_interval(ka, na, kb, nb, level)
                family.append({**key, "metric": metric, "a": a, "b": b,
                               "k_a": ka, "n_a": na, "rate_a": ka / na if na else np.nan,
                               "k_b": kb, "n_b": nb, "rate_b": kb / nb if nb else np.nan,
                               "diff": diff, "diff_lo": lo, "diff_hi": hi,
                               "p_value": testing(ka, na, kb, nb)})
            rows += with_holm(family)
    table = pd.DataFrame(rows, columns=[*keys, "metric", "a", "b", "k_a", "n_a", "rate_a",
                                        "k_b", "n_b", "rate_b", "diff", "diff_lo", "diff_hi",
                                        "p_value", "p_holm"])
    table.attrs["identical"] = skipped
    table.attrs["note"] = identical_note(skipped)
    return table


@dataclass
class LogitResult:
    """A fitted logistic regression: odds ratios per term and how the model was specified.

    `table` has term, coef, se, odds_ratio, lo, hi, p_value and `separated` (the term's
    estimate is not identified: some cell is all 0 or all 1). `note` says why nothing was
    fitted, or warns about separation.
    """

    outcome: str
    formula: str
    n: int
    table: pd.DataFrame
    note: str = ""
    fit: object | None = field(default=None, repr=False)
    cluster: str = "decision"


def information_knobs(decisions: pd.DataFrame) -> list[str]:
    """The information knobs that vary in `decisions`: customer_reads, company_reads, the
    continuous knobs and numeric `information.*` sweep columns not already among them."""
    knobs = [k for k in ("customer_reads", "company_reads") if k in decisions
             and decisions[k].nunique(dropna=True) > 1]
    knobs += [k for k in CONTINUOUS_KNOBS if k in decisions
              and decisions[k].nunique(dropna=True) > 1]
    for column in decisions.columns:
        if not column.startswith("information.") or column.split(".", 1)[1] in knobs:
            continue
        if column.split(".", 1)[1] in ("disclosure", *CONTINUOUS_KNOBS):
            continue
        values = pd.to_numeric(decisions[column], errors="coerce")
        if values.notna().all() and values.nunique() > 1:
            knobs.append(column)
    return knobs


def logistic_regression(decisions: pd.DataFrame, outcome: str = "override", *,
                        knobs: Sequence[str] | None = None,
                        factors: Sequence[str] = ("model", "temperature"),
                        cluster: str | None = "auto",
                        level: float = DEFAULT_LEVEL) -> LogitResult:
    """Logit of a binary outcome on information knobs, with categorical factors that vary.

    `knobs` defaults to `information_knobs(decisions)` (booleans as 0/1, numbers as they are);
    each of `factors` enters as a categorical (treatment-coded, first level as reference) only
    when it takes 2+ values. Rows with a null outcome (invalid answers) are dropped.
    Standard errors are cluster-robust by `cluster` (see `analysis.clusters`; "decision" is
    model-based).
    """
    import statsmodels.api as sm

    data = decisions[decisions[outcome].notna()]
    knobs = list(information_knobs(data) if knobs is None else knobs)
    used_factors = [f for f in factors if f in data and data[f].nunique(dropna=True) > 1]
    formula = f"{outcome} ~ " + " + ".join(
        [*knobs, *(f"C({f})" for f in used_factors)] or ["1"])
    empty = pd.DataFrame(columns=["term", "coef", "se", "odds_ratio", "lo", "hi", "p_value",
                                  "separated"])
    y = data[outcome].astype(float).to_numpy()
    if len(y) == 0:
        return LogitResult(outcome, formula, 0, empty, note="no valid decisions")
    if y.min() == y.max():
        return LogitResult(outcome, formula, len(y), empty,
                           note=f"{outcome} is {int(y[0])} for every valid decision; "
                                "nothing to model")
    design = pd.DataFrame(index=data.index)
    for knob in knobs:
        try:
            design[knob] = data[knob].astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"knob {knob!r} is not numeric or boolean") from exc
    for factor in used_factors:
        levels = sorted(data[factor].dropna().unique().tolist(), key=str)
        for value in levels[1:]:
            design[f"{factor}[{value}]"] = (data[factor] == value).astype(float)
    design = sm.add_constant(design, has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            kind, ids = cluster_ids(data, cluster)
            fit = sm.GLM(y, design.to_numpy(), family=sm.families.Binomial()).fit(
                **({} if ids is None else {"cov_type": "cluster", "cov_kwds": {"groups": ids}}))
        except (np.linalg.LinAlgError, ValueError) as exc:
            return LogitResult(outcome, formula, len(y), empty, note=f"fit failed: {exc}")
    z = z_value(level)
    coef, se = np.asarray(fit.params), np.asarray(fit.bse)
    separated = (np.abs(coef) > SEPARATION_COEF) | ~np.isfinite(se) | (se > SEPARATION_SE)
    with np.errstate(over="ignore", invalid="ignore"):  # separated terms overflow to inf
        table = pd.DataFrame({
            "term": list(design.columns), "coef": coef, "se": se, "odds_ratio": np.exp(coef),
            "lo": np.exp(coef - z * se), "hi": np.exp(coef + z * se),
            "p_value": np.asarray(fit.pvalues), "separated": separated,
        })
    table = table[table["term"] != "const"].reset_index(drop=True)
    note = ""
    if table["separated"].any():
        note = ("separation: " + ", ".join(table.loc[table["separated"], "term"]) +
                " perfectly predict the outcome in some cell, so their odds ratios are not "
                "identified (shown, but do not read them)")
    return LogitResult(outcome, formula, len(y), table, note=note, fit=fit, cluster=kind)
