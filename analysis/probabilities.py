"""Metrics from the recorded choice probabilities, beside the sampled ones.

When a backend records each decision's choice probabilities (`choice_probs` and the columns
derived from them, see `sim.engine.records`), every decision carries its exact probability of
overriding the customer, not only one draw. The mean of `expected_override` estimates the
same override rate as the share of sampled overrides, with less variance: the draw's own
noise is gone. Intervals are the same cluster bootstrap as the sampled means (`summarise`).

The sampled answer and the probabilities can disagree (a model's stated choice and its
token probabilities need not match); `agreement` measures it: the mean log-likelihood of
the sampled choices under the probabilities, and a calibration table of how often an option
was sampled against the probability it was given.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.intervals import DEFAULT_BOOTSTRAP, DEFAULT_LEVEL, bootstrap_mean_interval

EXPECTED_METRICS: dict[str, str] = {
    "expected_override": "expected_override",
    "expected_agency_loss": "expected_agency_loss",
    "expected_company_best": "p_company_best",
}
"""Expected-value metric -> the decision column whose mean it is."""

DEFINITIONS: dict[str, str] = {
    "expected_override": "mean over decisions with choice probabilities of P(override) = "
                         "1 - P(customer-best answer): the override rate's expected-value "
                         "estimate.",
    "expected_agency_loss": "mean of the probability-weighted agency loss.",
    "expected_company_best": "mean of P(buying a company-best product).",
}
"""One sentence per expected-value metric."""


def expected_columns() -> list[str]:
    """The expected-value columns `summarise` adds."""
    columns = ["n_probs"]
    for name in EXPECTED_METRICS:
        columns += [name, f"{name}_lo", f"{name}_hi"]
    return columns


def expected_metrics(group: pd.DataFrame, labels: np.ndarray | None, *,
                     n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                     level: float = DEFAULT_LEVEL) -> dict[str, float | int]:
    """Expected-value metrics of one group, with cluster-bootstrap intervals (NaN if absent)."""
    out: dict[str, float | int] = {}
    if "expected_override" not in group:
        out["n_probs"] = 0
        for name in EXPECTED_METRICS:
            out.update({name: math.nan, f"{name}_lo": math.nan, f"{name}_hi": math.nan})
        return out
    out["n_probs"] = int(group["expected_override"].notna().sum())
    for name, column in EXPECTED_METRICS.items():
        values = group[column].to_numpy(dtype=np.float64)
        mean, lo, hi = bootstrap_mean_interval(values, labels, n_boot=n_boot, seed=seed,
                                               level=level)
        out.update({name: mean, f"{name}_lo": lo, f"{name}_hi": hi})
    return out


def sampled_index(row_probs: object, choice_number: object, refused: object) -> int | None:
    """Position in `choice_probs` of the sampled answer (the last for `none`), or None."""
    if row_probs is None or (isinstance(row_probs, float) and math.isnan(row_probs)):
        return None
    if bool(refused):
        return len(row_probs) - 1  # type: ignore[arg-type]
    if choice_number is None or pd.isna(choice_number):
        return None
    return int(choice_number) - 1


def agreement(decisions: pd.DataFrame, *, bins: int = 10) -> tuple[dict[str, float],
                                                                    pd.DataFrame]:
    """How well the sampled choices agree with the probabilities.

    Returns a summary (`n`, `mean_log_likelihood` of the sampled choice, the same for a
    uniform choice over the listed options and `none` as a yardstick, and
    `share_sampled_is_most_likely`) and a calibration table: every (decision, option) pair
    binned by its probability, with the bin's mean probability and how often the option was
    the sampled one (`sampled_freq`). Options of unknown probability are left out.
    """
    logs, uniform, top = [], [], []
    probs_all, hits_all = [], []
    for row in decisions.itertuples(index=False):
        probs = getattr(row, "choice_probs", None)
        index = sampled_index(probs, getattr(row, "choice_number", None),
                              getattr(row, "refused", False))
        if index is None or not getattr(row, "valid", False):
            continue
        values = np.array([np.nan if p is None else p for p in probs], dtype=np.float64)
        mass = getattr(row, "choice_prob_mass", 1.0) or 1.0
        p = values[index] / mass
        logs.append(math.log(p) if p > 0 else -math.inf)
        uniform.append(-math.log(len(values)))
        known = ~np.isnan(values)
        top.append(bool(known[index]) and values[index] >= np.nanmax(values))
        hit = np.zeros(len(values))
        hit[index] = 1.0
        probs_all.extend((values[known] / mass).tolist())
        hits_all.extend(hit[known].tolist())
    finite = [v for v in logs if np.isfinite(v)]
    summary = {
        "n": len(logs),
        "mean_log_likelihood": float(np.mean(logs)) if logs else math.nan,
        "zero_probability_samples": len(logs) - len(finite),
        "uniform_log_likelihood": float(np.mean(uniform)) if uniform else math.nan,
        "share_sampled_is_most_likely": float(np.mean(top)) if top else math.nan,
    }
    frame = pd.DataFrame({"prob": probs_all, "sampled": hits_all})
    if frame.empty:
        return summary, pd.DataFrame(columns=["bin_lo", "bin_hi", "n", "mean_prob",
                                              "sampled_freq"])
    edges = np.linspace(0, 1, bins + 1)
    frame["bin"] = np.clip(np.digitize(frame["prob"], edges[1:-1]), 0, bins - 1)
    table = frame.groupby("bin").agg(n=("prob", "size"), mean_prob=("prob", "mean"),
                                     sampled_freq=("sampled", "mean")).reset_index()
    table.insert(0, "bin_lo", edges[table["bin"]])
    table.insert(1, "bin_hi", edges[table["bin"] + 1])
    return summary, table.drop(columns="bin")
