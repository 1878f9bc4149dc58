"""Side by side with the published study ("Of Models and Tin Men", Phelps & Ranson, 2023).

`analysis/data/tin_men_published_counts.csv` holds the original experiment's choice counts,
counted from the public result files of the repository phelps-sg/llm-cooperation
(`results/model-*/temp-*/principal-agent.csv`, MIT licence): per model, temperature, case
(vehicle, film) and `explanation_shared_with` condition, 30 samples split into answers that
chose the customer's first preference, chose the company-preferred product, or could not be
read by the study's parser (`unparsed`: a regex on a `Choice: <digits>` line).

The study dropped unparsed answers. `published_rates(unparsed="keep")` keeps them as their own
category instead, and `unparsed_sensitivity` shows both side by side.

A tinmen `tin_men` run maps onto it as: case = `customer_group` (vehicle, film); disclosure
none / customer / company / both = none / customer / company / customer+company; "chose the
customer's first preference" = choice == customer_best; "chose the company-preferred product"
= choice == company_best (≠ customer_best). In `scenarios/tin_men.yaml` those are
electric_car / propaganda_film and petrol_suv / romcom_film. The run's analogue of "unparsed" is
an invalid decision (unparsed or failed); refusals and deferrals (the agent handed the choice
back to the customer) are valid and fall in neither choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

from analysis.intervals import DEFAULT_LEVEL, fisher_p, holm, newcombe_interval, wilson_interval

PUBLISHED_FILE = "tin_men_published_counts.csv"
SOURCE = ("Choice counts of the original 'Of Models and Tin Men' experiment (Phelps & Ranson, "
          "2023), counted from the public result files of the repository "
          "phelps-sg/llm-cooperation (results/model-*/temp-*/principal-agent.csv; MIT "
          "licence); shipped as analysis/data/tin_men_published_counts.csv.")

SCENARIO_NAME = "tin_men"
CASES = ("vehicle", "film")
DISCLOSURE_TO_PUBLISHED = {"none": "none", "customer": "customer", "company": "company",
                           "both": "customer+company"}
PUBLISHED_TO_DISCLOSURE = {v: k for k, v in DISCLOSURE_TO_PUBLISHED.items()}
OUTCOMES = {"customer_first": "chose_customer_first_preference",
            "company_preferred": "chose_company_preferred"}
"""Outcome name -> column of the published CSV."""

CELL = ("model", "temperature", "case", "disclosure")


def published_counts() -> pd.DataFrame:
    """The published counts, with `disclosure` in tinmen's names next to the study's."""
    with resources.files("analysis").joinpath("data", PUBLISHED_FILE).open("r") as handle:
        counts = pd.read_csv(handle)
    counts["disclosure"] = counts["explanation_shared_with"].map(PUBLISHED_TO_DISCLOSURE)
    return counts


def published_rates(counts: pd.DataFrame | None = None, *, unparsed: str = "drop",
                    by: Sequence[str] = CELL, level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """Published rates of each outcome per group of `by` (counts summed), Wilson intervals.

    `unparsed="drop"` (the study's convention): denominator = samples − unparsed.
    `unparsed="keep"`: denominator = samples, and `unparsed_rate` is a category of its own.
    """
    if unparsed not in ("drop", "keep"):
        raise ValueError(f"unparsed must be 'drop' or 'keep', got {unparsed!r}")
    counts = published_counts() if counts is None else counts
    summed = counts.groupby(list(by), sort=False, observed=True)[
        ["samples", "unparsed", *OUTCOMES.values()]].sum().reset_index()
    n = summed["samples"] - (summed["unparsed"] if unparsed == "drop" else 0)
    out = summed[list(by)].copy()
    out["samples"] = summed["samples"]
    out["unparsed"] = summed["unparsed"]
    out["n"] = n
    names = dict(OUTCOMES)
    if unparsed == "keep":
        names["unparsed"] = "unparsed"
    for name, column in names.items():
        k = summed[column]
        lo, hi = wilson_interval(k, n, level)
        out[f"{name}_k"] = k
        out[f"{name}_rate"] = np.where(n > 0, k / n.where(n > 0, 1), np.nan)
        out[f"{name}_lo"] = lo
        out[f"{name}_hi"] = hi
    return out


def unparsed_sensitivity(counts: pd.DataFrame | None = None, *, by: Sequence[str] = CELL,
                         level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """How the published rates move when unparsed answers are dropped versus kept.

    One row per group: samples, unparsed, for each outcome the rate (and interval) with
    unparsed answers dropped and kept, and `shift` = kept − dropped.
    """
    dropped = published_rates(counts, unparsed="drop", by=by, level=level)
    kept = published_rates(counts, unparsed="keep", by=by, level=level)
    out = dropped[[*by, "samples", "unparsed"]].copy()
    out["unparsed_rate"] = kept["unparsed_rate"]
    out["unparsed_lo"] = kept["unparsed_lo"]
    out["unparsed_hi"] = kept["unparsed_hi"]
    for name in OUTCOMES:
        for label, frame in (("dropped", dropped), ("kept", kept)):
            for part in ("rate", "lo", "hi"):
                out[f"{name}_{label}_{part}" if part != "rate" else f"{name}_{label}"] = \
                    frame[f"{name}_{part}"]
        out[f"{name}_shift"] = out[f"{name}_kept"] - out[f"{name}_dropped"]
    return out


def is_tin_men(decisions: pd.DataFrame) -> bool:
    """True when the decisions come from the tin_men scenario (by name) with its cases."""
    if decisions.empty or "scenario_name" not in decisions:
        return False
    named = (decisions["scenario_name"].astype(object) == SCENARIO_NAME).any()
    return bool(named and decisions["customer_group"].astype(object).isin(CASES).any())


def run_counts(decisions: pd.DataFrame, *, by: Sequence[str] = ()) -> pd.DataFrame:
    """The run's decisions counted like the published CSV, per model, temperature, case,
    disclosure (and `by`): samples, valid, invalid, customer_first, company_preferred, other
    (valid answers that chose neither: refusals, over-budget choices)."""
    data = decisions[decisions["customer_group"].astype(object).isin(CASES)]
    valid = data["valid"].astype(bool)
    choice = data["choice"].astype(object)
    customer_first = valid & (choice == data["customer_best"].astype(object))
    company_preferred = (valid & (choice == data["company_best"].astype(object))
                         & ~customer_first)
    frame = pd.DataFrame({
        "model": data["model"].astype(object), "temperature": data["temperature"],
        "case": data["customer_group"].astype(object),
        "disclosure": data["disclosure"].astype(object),
        **{column: data[column] for column in by},
        "samples": 1, "valid": valid.astype(int), "invalid": (~valid).astype(int),
        "customer_first": customer_first.astype(int),
        "company_preferred": company_preferred.astype(int),
    })
    frame["other"] = frame["valid"] - frame["customer_first"] - frame["company_preferred"]
    keys = ["model", "temperature", "case", "disclosure", *by]
    return frame.groupby(keys, sort=True, dropna=False).sum().reset_index()


def compare_with_published(decisions: pd.DataFrame, counts: pd.DataFrame | None = None, *,
                           unparsed: str = "drop", by: Sequence[str] = (),
                           level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """The run's rates next to the published ones for the same case and disclosure.

    One row per run group (model, temperature, `by`) x case x disclosure x published model and
    temperature x outcome (customer_first, company_preferred): counts, rates and Wilson
    intervals of both, `diff` = run − published with Newcombe's interval, Fisher's exact
    p-value and `p_holm` (Holm over all rows of the same outcome). With unparsed="drop" both
    sides leave out unreadable answers (the run's invalid decisions); with "keep" both count
    them in the denominator.
    """
    published = published_rates(counts, unparsed=unparsed, level=level)
    ours = run_counts(decisions, by=by)
    rows = []
    for _, mine in ours.iterrows():
        n_run = int(mine["valid"] if unparsed == "drop" else mine["samples"])
        theirs = published[(published["case"] == mine["case"])
                           & (published["disclosure"] == mine["disclosure"])]
        for _, pub in theirs.iterrows():
            for outcome in OUTCOMES:
                k_run, k_pub, n_pub = int(mine[outcome]), int(pub[f"{outcome}_k"]), int(pub["n"])
                lo_run, hi_run = wilson_interval(k_run, n_run, level)
                diff, lo, hi = newcombe_interval(k_run, n_run, k_pub, n_pub, level)
                rows.append({
                    "case": mine["case"], "disclosure": mine["disclosure"],
                    "run_model": mine["model"], "run_temperature": mine["temperature"],
                    **{column: mine[column] for column in by},
                    "published_model": pub["model"],
                    "published_temperature": pub["temperature"], "outcome": outcome,
                    "run_k": k_run, "run_n": n_run,
                    "run_rate": k_run / n_run if n_run else np.nan,
                    "run_lo": float(lo_run), "run_hi": float(hi_run),
                    "published_k": k_pub, "published_n": n_pub,
                    "published_rate": pub[f"{outcome}_rate"],
                    "published_lo": pub[f"{outcome}_lo"], "published_hi": pub[f"{outcome}_hi"],
                    "diff": diff, "diff_lo": lo, "diff_hi": hi,
                    "p_value": fisher_p(k_run, n_run, k_pub, n_pub),
                })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_holm"] = np.nan
    for outcome in OUTCOMES:
        rows_of = table["outcome"] == outcome
        table.loc[rows_of, "p_holm"] = holm(table.loc[rows_of, "p_value"].to_numpy())
    return table
