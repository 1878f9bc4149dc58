"""The report's first sections: runs, summary, conflict metrics, the observation gap,
pairwise tests and the logistic regression (assembled by `analysis.report.build_report`),
and the grouping helpers the other sections share.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis import plots
from analysis.effects import (
    CONTINUOUS_KNOBS,
    condition_order,
    logistic_regression,
    observation_gap,
    pairwise_tests,
)
from analysis.load import Runs
from analysis.metrics import DEFINITIONS, summarise
from analysis.render import (
    Block,
    Bullets,
    Heading,
    Plot,
    Table,
    Text,
    fmt_mean,
    fmt_num,
    fmt_p,
    fmt_rate,
)

MAX_RUN_ROWS = 50
"""Runs listed individually in the report; more are summarised by status."""


def count_text(n: int, word: str) -> str:
    """'1 run', '3 runs': a count with its noun in the right number."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def outcome_grouping(d: pd.DataFrame) -> str:
    """The column figures of outcomes are drawn by: disclosure when it varies, else the
    first of model, temperature and company that varies."""
    if "disclosure" in varying(d, ["disclosure"]):
        return "disclosure"
    return (varying(d, ["model", "temperature", "company"]) or ["disclosure"])[0]


# ---------------------------------------------------------------------------------- grouping
def varying(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns of `columns` present in `frame` that take two or more values."""
    return [c for c in columns if c in frame and frame[c].nunique(dropna=False) > 1]


def condition_keys(runs: Runs) -> list[str]:
    """Grouping for the main tables: company (when several), disclosure, swept cell columns,
    continuous knobs, model and temperature, each only when it varies."""
    d = runs.decisions
    cells = [c for c in runs.cell_columns
             if c not in ("information.disclosure", "replicate")
             and c.split(".")[-1] not in d.columns]
    return varying(d, ["company", "disclosure", *cells, *CONTINUOUS_KNOBS, "model",
                       "temperature"])


def model_keys(runs: Runs) -> list[str]:
    """company, model and temperature, each only when it varies."""
    return varying(runs.decisions, ["company", "model", "temperature"])


def sorted_by(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """`frame` sorted by `keys`, disclosure conditions in the design's order."""
    if not keys or frame.empty:
        return frame
    return frame.sort_values(list(keys), key=lambda s: s.map(condition_order)
                             if s.name == "disclosure" else s).reset_index(drop=True)


# ---------------------------------------------------------------------------------- sections
def runs_section(runs: Runs) -> list[Block]:
    """The runs, their status and size; a warning for runs that did not complete."""
    table = runs.runs
    order = [*runs.cell_columns, "replicate", "run_id"]
    shown = table.sort_values(order, key=lambda s: s.astype(str), kind="stable").head(
        MAX_RUN_ROWS)
    frame = pd.DataFrame({
        "run": shown["run_id"], "scenario": shown["scenario_name"], "status": shown["status"],
        "ticks": [f"{c}/{p}" for c, p in zip(shown["ticks_completed"], shown["ticks_planned"],
                                             strict=True)],
        "decisions": shown["decisions"], "backends": shown["backends"],
    })
    for column in runs.cell_columns:
        frame[column] = shown[column].to_numpy()
    blocks: list[Block] = [Heading("Runs"), Table(frame)]
    if len(table) > MAX_RUN_ROWS:
        counts = table["status"].value_counts().to_dict()
        blocks.append(Text(f"… and {len(table) - MAX_RUN_ROWS} more runs. Status of all: "
                           + ", ".join(f"{k}: {v}" for k, v in counts.items()) + "."))
    return blocks


def runs_warning(runs: Runs) -> list[Block]:
    """A warning naming the runs that did not complete (nothing when all did)."""
    incomplete = runs.incomplete
    if not len(incomplete):
        return []
    return [Text(
        f"**Warning:** {count_text(len(incomplete), 'run')} did not complete ("
        + ", ".join(f"`{r}`: {s}" for r, s in zip(incomplete["run_id"],
                                                   incomplete["status"], strict=True))
        + "). The ticks they recorded are included below.")]


def knob_summary(runs: Runs) -> str:
    """One sentence naming what the runs vary (the knobs) and what they hold fixed."""
    d = runs.decisions
    keys = condition_keys(runs)
    parts = []
    for key in keys:
        values = sorted(d[key].dropna().unique().tolist(), key=condition_order)
        shown = ", ".join(str(v) for v in values[:8]) + (" …" if len(values) > 8 else "")
        parts.append(f"`{key}` ({shown})")
    sizes = f"{count_text(len(runs.runs), 'run')}, {count_text(len(d), 'decision')}"
    if not parts:
        return f"{sizes}; no knob varies, so the results are one cell."
    return f"{sizes}. Varied: " + "; ".join(parts) + "."


def summary_section(runs: Runs, *, n_boot: int, seed: int) -> list[Block]:
    """The headline: what varies, the main metrics by condition with intervals and cell
    sizes, and the two key figures."""
    d = runs.decisions
    keys = condition_keys(runs)
    table = sorted_by(summarise(d, keys, n_boot=n_boot, seed=seed), keys)
    shown = metric_display(table, keys)
    headline = [*keys, "n", "override", "sided with company", "invalid", "agency loss"]
    blocks: list[Block] = [Heading("Summary"), Text(knob_summary(runs)), *runs_warning(runs),
                           Table(shown[[c for c in headline if c in shown]],
                                 caption="Headline metrics (95% intervals; n = decisions in "
                                         "the cell). Definitions under Conflict metrics.")]
    facet = "company" if "company" in varying(d, ["company"]) else None
    if "disclosure" in varying(d, ["disclosure"]):
        blocks.append(Plot("rates_by_condition", plots.rates_by_condition(d, facet=facet),
                           "Override and sided-with-company rates by disclosure condition, "
                           "95% Wilson intervals."))
    by = outcome_grouping(d)
    blocks.append(Plot("outcomes", plots.outcome_shares(d, by=by, facet=facet if
                                                        by != facet else None),
                       f"What every decision ended in, by {by} (shares of all decisions)."))
    return blocks


def metric_display(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """`summarise` output as display strings: one column per metric, intervals inline."""
    out = table[list(keys)].copy()
    out["n"] = table["n"]
    out["invalid"] = [fmt_rate(r, lo, hi) for r, lo, hi in
                      zip(table["invalid_rate"], table["invalid_lo"], table["invalid_hi"],
                          strict=True)]
    for rate, label in (("override", "override"), ("sided", "sided with company"),
                        ("refusal", "refusal"), ("deferral", "deferred")):
        out[label] = [fmt_rate(r, lo, hi) for r, lo, hi in
                      zip(table[f"{rate}_rate"], table[f"{rate}_lo"], table[f"{rate}_hi"],
                          strict=True)]
    for mean, label in (("agency_loss", "agency loss"),
                        ("agency_loss_share", "loss / attainable"),
                        ("company_gain", "company gain"),
                        ("agency_loss_unread_as_outside", "loss, unreadable as buying nothing")):
        out[label] = [fmt_mean(m, lo, hi) for m, lo, hi in
                      zip(table[mean], table[f"{mean}_lo"], table[f"{mean}_hi"], strict=True)]
    return out


def metrics_section(runs: Runs, *, n_boot: int, seed: int) -> list[Block]:
    """Definitions and denominators, the metrics by condition and overall, and figures."""
    d = runs.decisions
    keys = condition_keys(runs)
    table = sorted_by(summarise(d, keys, n_boot=n_boot, seed=seed), keys)
    clusters = sorted(table["cluster"].unique().tolist())
    blocks: list[Block] = [
        Heading("Conflict metrics"),
        Text("Rates are shares with a 95% Wilson interval (a cluster bootstrap instead where "
             "customers decide repeatedly: "
             f"{', '.join(sorted(table['rate_interval'].unique().tolist()))}); means have a "
             f"95% bootstrap interval resampling {', '.join(clusters)} clusters. Headline means "
             "are over valid decisions; the last column counts unreadable answers as buying "
             "nothing, a bound that charges measurement failures to the agent. Definitions and "
             "denominators:"),
        Bullets([f"**{name}**: {text}" for name, text in DEFINITIONS.items()]),
        Table(metric_display(table, keys),
              caption="By condition" + (f" ({', '.join(keys)})" if keys else "") + "."),
    ]
    overall = model_keys(runs)
    if overall != keys:
        table = sorted_by(summarise(d, overall or None, n_boot=n_boot, seed=seed), overall)
        blocks.append(Table(metric_display(table, overall),
                            caption="Overall" + (f", by {', '.join(overall)}" if overall
                                                 else "") + "."))
    facet = "company" if "company" in varying(d, ["company"]) else None
    by = outcome_grouping(d)
    blocks.append(Plot("agency_loss", plots.agency_loss_plot(
        d, by=by, facet=facet if by != facet else None, n_boot=min(n_boot, 1000), seed=seed),
        f"Mean agency loss by {by}, 95% bootstrap intervals."))
    return blocks


def gap_section(runs: Runs) -> list[Block]:
    """The observation gap per company (and model and temperature when they vary)."""
    d = runs.decisions
    blocks: list[Block] = [Heading("Observation gap: behaving differently when watched"),
                           Text(
        "For each principal, the change in override and sided-with-company rates (over valid "
        "decisions) between decisions whose explanation that principal reads (customer: "
        "disclosure customer or both; company: company or both) and those it does not. A "
        "negative customer gap means the agent serves the customer better when the customer "
        "reads its explanation. Newcombe 95% intervals; Fisher's exact test, Holm-corrected "
        "within each group.")]
    keys = model_keys(runs)
    table = observation_gap(d, keys or None)
    table = table[(table["n_watched"] > 0) & (table["n_unwatched"] > 0)]
    if table.empty:
        blocks.append(Text("Not computable: every decision had the same reader(s), so there is "
                           "no watched/unwatched contrast."))
        return blocks
    frame = table[keys].copy()
    frame["observer"] = table["observer"]
    frame["metric"] = table["metric"]
    frame["watched"] = [f"{fmt_rate(r, float('nan'), float('nan'))} of {n}" for r, n in
                        zip(table["rate_watched"], table["n_watched"], strict=True)]
    frame["not watched"] = [f"{fmt_rate(r, float('nan'), float('nan'))} of {n}" for r, n in
                            zip(table["rate_unwatched"], table["n_unwatched"], strict=True)]
    frame["gap (95% CI)"] = [_signed_pp(g, lo, hi) for g, lo, hi in
                             zip(table["gap"], table["gap_lo"], table["gap_hi"], strict=True)]
    frame["p"] = table["p_value"].map(fmt_p)
    frame["p (Holm)"] = table["p_holm"].map(fmt_p)
    blocks.append(Table(frame.reset_index(drop=True)))
    if table.attrs.get("note"):
        blocks.append(Text(f"Note: {table.attrs['note']}."))
    return blocks


def _signed_pp(gap: float, lo: float, hi: float) -> str:
    if pd.isna(gap):
        return "–"
    return f"{100 * gap:+.1f} pp ({100 * lo:+.1f} to {100 * hi:+.1f})"


def pairwise_section(runs: Runs) -> list[Block]:
    """Fisher's exact tests between every pair of disclosure conditions, Holm-corrected."""
    d = runs.decisions
    if "disclosure" not in varying(d, ["disclosure"]):
        return []
    keys = model_keys(runs)
    table = pairwise_tests(d, "disclosure", keys or None)
    frame = table[keys].copy()
    frame["metric"] = table["metric"]
    frame["a vs b"] = table["a"].astype(str) + " vs " + table["b"].astype(str)
    frame["rate a"] = [f"{100 * r:.1f}% of {n}" if n else "–"
                       for r, n in zip(table["rate_a"], table["n_a"], strict=True)]
    frame["rate b"] = [f"{100 * r:.1f}% of {n}" if n else "–"
                       for r, n in zip(table["rate_b"], table["n_b"], strict=True)]
    frame["a − b (95% CI)"] = [_signed_pp(g, lo, hi) for g, lo, hi in
                               zip(table["diff"], table["diff_lo"], table["diff_hi"],
                                   strict=True)]
    frame["p"] = table["p_value"].map(fmt_p)
    frame["p (Holm)"] = table["p_holm"].map(fmt_p)
    return [Heading("Pairwise tests between disclosure conditions"),
            Text("Fisher's exact test on each 2×2 table (condition × outcome, valid decisions); "
                 "p-values Holm-corrected within each group and metric."),
            Table(frame.reset_index(drop=True)),
            *([Text(f"Note: {table.attrs['note']}.")] if table.attrs.get("note") else [])]


def regression_section(runs: Runs) -> list[Block]:
    """Logistic regression of override on the information knobs."""
    d = runs.decisions
    factors = varying(d, ["model", "temperature", "company"])
    result = logistic_regression(d, "override", factors=factors)
    blocks: list[Block] = [Heading("Logistic regression of override"), Text(
        f"`{result.formula}` on {result.n} valid decisions (binomial GLM). customer_reads / "
        "company_reads are 1 when that principal reads the explanation; categorical factors "
        "(company, model, temperature) enter only when they vary, against their first level. "
        f"Odds ratios with 95% Wald intervals; standard errors clustered by {result.cluster}.")]
    if result.table.empty:
        blocks.append(Text(f"Not fitted: {result.note or 'no information knob varies'}."))
        return blocks
    frame = pd.DataFrame({
        "term": result.table["term"],
        "odds ratio (95% CI)": [f"{fmt_num(o)} ({fmt_num(lo)} to {fmt_num(hi)})" for o, lo, hi
                                in zip(result.table["odds_ratio"], result.table["lo"],
                                       result.table["hi"], strict=True)],
        "p": result.table["p_value"].map(fmt_p),
        "separation": result.table["separated"].map({True: "yes", False: ""}),
    })
    blocks.append(Table(frame))
    if result.note:
        blocks.append(Text(f"Note: {result.note}."))
    return blocks
