"""Figures: each function takes a DataFrame and returns a matplotlib Figure.

Figures are built with `matplotlib.figure.Figure` (rendered by the Agg canvas when saved), so
nothing is shown, no pyplot state is touched and no GUI backend is needed. Save one with
`fig.savefig("x.png")`; in a notebook, `display(fig)` shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.effects import condition_order, knob_curve
from analysis.intervals import wilson_interval
from analysis.metrics import summarise

RATE_LABELS = {"override": "override rate", "sided": "sided-with-company rate",
               "refusal": "refusal rate", "invalid": "invalid rate"}
PANEL_INCHES = (4.6, 3.4)


def new_figure(rows: int = 1, cols: int = 1, *, sharey: bool = False
               ) -> tuple[Figure, np.ndarray]:
    """A Figure on the Agg canvas with a rows x cols grid of axes (always a 2-D array)."""
    fig = Figure(figsize=(PANEL_INCHES[0] * cols, PANEL_INCHES[1] * rows),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    return fig, axes


def rates_by_condition(decisions: pd.DataFrame, *, condition: str = "disclosure",
                       hue: str | Sequence[str] | None = ("model", "temperature"),
                       metrics: Sequence[str] = ("override", "sided"),
                       facet: str | None = None) -> Figure:
    """Bars of rates per condition, one bar per hue level, with 95% Wilson interval bars.

    `metrics` are rate names of `summarise` (override, sided, refusal, invalid); one column of
    panels per metric and one row per `facet` value. Hue columns that do not vary are ignored.
    """
    hues = _varying(decisions, hue)
    facets = _levels(decisions, facet) if facet else [None]
    keys = [k for k in (facet, condition, *hues) if k]
    table = summarise(decisions, keys, n_boot=0)
    fig, axes = new_figure(len(facets), len(metrics), sharey=True)
    conditions = sorted(table[condition].dropna().unique().tolist(), key=condition_order)
    labels = _hue_labels(table, hues)
    series = sorted(labels.unique().tolist(), key=str)
    width = 0.8 / max(1, len(series))
    for r, facet_value in enumerate(facets):
        rows = table if facet is None else table[table[facet] == facet_value]
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            for s, name in enumerate(series):
                part = rows[labels.loc[rows.index] == name].set_index(condition)
                part = part.reindex(conditions)
                x = np.arange(len(conditions)) + (s - (len(series) - 1) / 2) * width
                rate = part[f"{metric}_rate"].to_numpy(dtype=float)
                err = _error_bars(rate, part[f"{metric}_lo"], part[f"{metric}_hi"])
                ax.bar(x, rate, width=width, label=name if name else None)
                ax.errorbar(x, rate, yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
            ax.set_xticks(np.arange(len(conditions)), [str(v) for v in conditions])
            ax.set_ylim(0, 1.1)
            ax.set_xlabel(condition)
            title = RATE_LABELS.get(metric, metric)
            ax.set_title(title if facet is None else f"{title} — {facet}={facet_value}",
                         fontsize=10)
            if c == 0:
                ax.set_ylabel("rate (95% Wilson interval)")
            if len(series) > 1 and r == 0 and c == len(metrics) - 1:
                ax.legend(fontsize=8, title=", ".join(hues), title_fontsize=8)
    return fig


OUTCOME_CATEGORIES = (
    ("customer's best", "#4c9a2a"),
    ("company's pick", "#c0392b"),
    ("other product", "#e6a23c"),
    ("bought nothing", "#7f8c8d"),
    ("unreadable / failed", "#bdc3c7"),
)
"""The outcome classes of `outcome_shares`, in stacking order, with their colours."""


def outcome_classes(decisions: pd.DataFrame) -> pd.Series:
    """Each decision's outcome class for `outcome_shares` (one label of OUTCOME_CATEGORIES).

    Valid decisions are split by override and sided-with-company (a valid decision that did
    not override got the customer's best, buying nothing included); a valid decision that
    bought nothing although something was better is "bought nothing" (refusals among them);
    everything else (unreadable answers, failed requests) is "unreadable / failed".
    """
    valid = decisions["valid"].fillna(False).astype(bool).to_numpy()
    override = decisions["override"].fillna(False).astype(bool).to_numpy()
    sided = decisions["sided_with_company"].fillna(False).astype(bool).to_numpy()
    bought = (decisions["outcome"].astype(str).to_numpy() == "purchased"
              if "outcome" in decisions else np.ones(len(decisions), dtype=bool))
    labels = np.full(len(decisions), "unreadable / failed", dtype=object)
    labels[valid & ~override] = "customer's best"
    labels[valid & override & sided] = "company's pick"
    labels[valid & override & ~sided & bought] = "other product"
    labels[valid & override & ~sided & ~bought] = "bought nothing"
    return pd.Series(labels, index=decisions.index, name="outcome_class")


def outcome_shares(decisions: pd.DataFrame, *, by: str = "disclosure",
                   facet: str | None = None) -> Figure:
    """Stacked bars: the share of every decision in each outcome class, per `by` group.

    Each bar sums to 1 over all decisions of the group (so unreadable answers show as their
    own segment rather than vanishing); the count of decisions is written above the bar.
    """
    facets = _levels(decisions, facet) if facet else [None]
    fig, axes = new_figure(1, len(facets), sharey=True)
    classes = outcome_classes(decisions)
    for c, facet_value in enumerate(facets):
        ax = axes[0, c]
        rows = decisions if facet is None else decisions[decisions[facet] == facet_value]
        groups = _levels(rows, by)
        bottom = np.zeros(len(groups))
        counts = np.array([(rows[by] == g).sum() for g in groups], dtype=float)
        for label, colour in OUTCOME_CATEGORIES:
            share = np.array([((rows[by] == g) & (classes.loc[rows.index] == label)).sum()
                              for g in groups], dtype=float) / np.maximum(counts, 1)
            ax.bar(np.arange(len(groups)), share, bottom=bottom, color=colour, label=label,
                   width=0.7)
            bottom += share
        for x, n in enumerate(counts):
            ax.text(x, 1.02, f"n={int(n)}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups])
        ax.set_ylim(0, 1.12)
        ax.set_xlabel(by)
        title = "outcome of every decision"
        ax.set_title(title if facet is None else f"{title} — {facet}={facet_value}",
                     fontsize=10)
        if c == 0:
            ax.set_ylabel("share of decisions")
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def agency_loss_plot(decisions: pd.DataFrame, *, by: str = "disclosure",
                     share: bool = False, facet: str | None = None,
                     n_boot: int = 1000, seed: int = 0) -> Figure:
    """Dot-and-interval plot of mean agency loss per `by` group: the mean with its 95%
    bootstrap interval (the clusters of `summarise`), one colour per `facet` value.

    `share=True` plots agency loss as a share of the attainable utility. Values and their
    intervals always lie inside the axes.
    """
    column = "agency_loss_share" if share else "agency_loss"
    label = "agency loss / attainable utility" if share else "mean agency loss (utility)"
    keys = [k for k in (facet, by) if k]
    table = summarise(decisions, keys, n_boot=n_boot, seed=seed)
    groups = _levels(table, by)
    facets = _levels(table, facet) if facet else [None]
    fig, axes = new_figure()
    ax = axes[0, 0]
    offsets = (np.arange(len(facets)) - (len(facets) - 1) / 2) * (0.6 / max(1, len(facets)))
    highs = []
    for i, facet_value in enumerate(facets):
        rows = table if facet is None else table[table[facet] == facet_value]
        part = rows.set_index(by).reindex(groups)
        mean = part[column].to_numpy(dtype=float)
        err = _error_bars(mean, part[f"{column}_lo"], part[f"{column}_hi"])
        ax.errorbar(np.arange(len(groups)) + offsets[i], mean, yerr=err, fmt="o", capsize=3,
                    color=f"C{i}", label=None if facet is None else f"{facet}={facet_value}")
        highs.append(np.nanmax(np.append(part[f"{column}_hi"].to_numpy(dtype=float), 0.0)))
    top = max(highs) if highs else 1.0
    ax.set_ylim(-0.05 * (top or 1.0), 1.1 * (top or 1.0))
    ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_xlabel(by)
    ax.set_ylabel(label)
    ax.set_title("mean agency loss (95% bootstrap interval)", fontsize=10)
    if facet is not None:
        ax.legend(fontsize=7)
    return fig


def knob_plot(decisions: pd.DataFrame, knob: str, *, outcome: str = "override",
              by: str | None = None, degree: int = 1) -> Figure:
    """Rate of `outcome` against a continuous knob: observed rates with Wilson intervals
    (points) and a fitted logistic curve with its 95% band, one colour per `by` group."""
    result = knob_curve(decisions, knob, outcome, by, degree=degree)
    fig, axes = new_figure()
    ax = axes[0, 0]
    groups = [None] if by is None else sorted(result.points[by].dropna().unique().tolist(),
                                              key=condition_order)
    for i, group in enumerate(groups):
        colour = f"C{i}"
        points = result.points if by is None else result.points[result.points[by] == group]
        curve = result.curve if by is None else result.curve[result.curve[by] == group]
        x = points[knob].to_numpy(dtype=float)
        rate = points["rate"].to_numpy(dtype=float)
        err = _error_bars(rate, points["lo"], points["hi"])
        ax.errorbar(x, rate, yerr=err, fmt="o", color=colour, capsize=3,
                    label=None if group is None else f"{by}={group}")
        if len(curve):
            ax.plot(curve[knob], curve["fitted"], color=colour)
            ax.fill_between(curve[knob].to_numpy(dtype=float),
                            curve["lo"].to_numpy(dtype=float),
                            curve["hi"].to_numpy(dtype=float), color=colour, alpha=0.2)
    ax.set_xlabel(knob)
    ax.set_ylabel(f"{outcome} rate")
    ax.set_ylim(-0.05, 1.1)
    ax.set_title(f"{outcome} vs {knob} (logistic fit, 95% band)", fontsize=10)
    if by is not None:
        ax.legend(fontsize=8)
    return fig


TICK_RATE_DENOMINATORS = {"override_rate": "valid", "sided_with_company_rate": "valid",
                          "invalid_rate": "decisions"}
"""ticks.csv rate column -> the count column it is a share of (for Wilson bands)."""

TICK_AXIS_LABELS = {"override_rate": "share of valid decisions",
                    "sided_with_company_rate": "share of valid decisions",
                    "invalid_rate": "share of all decisions",
                    "mean_agency_loss": "mean agency loss (utility, valid decisions)",
                    "mean_agency_loss_unread_as_outside":
                        "mean agency loss (utility, unread as buying nothing)"}
"""ticks.csv column -> the y-axis label of its per-tick panel."""


def tick_series(ticks: pd.DataFrame, *,
                columns: Sequence[str] = ("override_rate", "sided_with_company_rate",
                                          "invalid_rate", "mean_agency_loss"),
                by: str = "run_id", max_lines: int = 12) -> Figure:
    """Per-tick time series from ticks.csv, one panel per column (two panels per row).

    With up to `max_lines` runs (or `by` groups) each gets a line, and rates of a single run
    get a 95% Wilson band from the tick's counts; with more runs, the mean across them is
    drawn with a band from the lowest to the highest. A column that is 0 in every tick is
    drawn as its line with a note saying so, without a band (a Wilson band around zero
    counts would only show the interval's width).
    """
    columns = [c for c in columns if c in ticks]
    cols = min(2, max(1, len(columns)))
    rows = max(1, -(-len(columns) // cols))
    fig, axes = new_figure(rows, cols)
    for ax in axes.flat[len(columns):]:
        ax.set_visible(False)
    groups = ticks[by].unique().tolist() if by in ticks else [None]
    for c, column in enumerate(columns):
        ax = axes.flat[c]
        values = pd.to_numeric(ticks[column], errors="coerce")
        all_zero = bool(values.notna().any() and (values.fillna(0) == 0).all())
        if len(groups) <= max_lines:
            for i, group in enumerate(groups):
                part = ticks if group is None else ticks[ticks[by] == group]
                part = part.sort_values("tick")
                ax.plot(part["tick"], part[column], marker="o", ms=3, color=f"C{i}",
                        label=None if group is None else str(group))
                denominator = TICK_RATE_DENOMINATORS.get(column)
                if len(groups) == 1 and denominator in part and not all_zero:
                    n = part[denominator].to_numpy(dtype=float)
                    k = np.round(part[column].to_numpy(dtype=float) * n)
                    lo, hi = wilson_interval(k, n)
                    ax.fill_between(part["tick"].to_numpy(dtype=float), lo, hi,
                                    color=f"C{i}", alpha=0.2, label="95% Wilson")
            if len(groups) > 1 and c == len(columns) - 1:
                ax.legend(fontsize=7, title=by, title_fontsize=7)
        else:
            stats = ticks.groupby("tick")[column].agg(["mean", "min", "max"]).reset_index()
            ax.plot(stats["tick"], stats["mean"], color="C0", label=f"mean of {len(groups)}")
            ax.fill_between(stats["tick"], stats["min"], stats["max"], color="C0", alpha=0.2,
                            label="min–max")
            ax.legend(fontsize=7)
        if all_zero:
            ax.text(0.5, 0.5, "0 in every tick", transform=ax.transAxes, ha="center",
                    va="center", fontsize=9, color="#555")
            ax.set_ylim(-0.05, 1.0 if column in TICK_RATE_DENOMINATORS else 0.05)
        elif column in TICK_RATE_DENOMINATORS:
            ax.set_ylim(bottom=0)
        ax.set_xlabel("tick")
        ax.set_ylabel(TICK_AXIS_LABELS.get(column, column.replace("_", " ")), fontsize=8)
        ax.set_title(column.replace("_", " "), fontsize=10)
    return fig


def override_probability_plot(decisions: pd.DataFrame, *, condition: str = "disclosure"
                              ) -> Figure:
    """Per-decision P(override) by condition (jittered points, a box, the sampled rate).

    Only decisions with choice probabilities (`expected_override`, see
    `analysis.probabilities`) are drawn.
    """
    d = decisions[decisions["expected_override"].notna()]
    levels = _levels(d, condition)
    fig, axes = new_figure()
    ax = axes[0, 0]
    rng = np.random.default_rng(0)
    for x, level in enumerate(levels):
        values = d.loc[d[condition] == level, "expected_override"].to_numpy(dtype=float)
        ax.scatter(x + rng.uniform(-0.25, 0.25, len(values)), values, s=6, alpha=0.3)
        ax.boxplot([values], positions=[x], widths=0.5, showfliers=False)
        sampled = d.loc[d[condition] == level, "override"].dropna().astype(float)
        if len(sampled):
            ax.plot([x - 0.3, x + 0.3], [sampled.mean()] * 2, color="black", lw=2)
    ax.set_xticks(range(len(levels)), [str(v) for v in levels])
    ax.set_xlabel(condition)
    ax.set_ylabel("P(override) per decision")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Override probability by condition (bar: sampled override rate)")
    return fig


def published_comparison_plot(comparison: pd.DataFrame, *, outcome: str = "customer_first"
                              ) -> Figure:
    """The run's rate next to every published model and temperature, per case and disclosure
    condition, with 95% Wilson intervals (from `compare_with_published`)."""
    table = comparison[comparison["outcome"] == outcome]
    cases = sorted(table["case"].unique().tolist(), key=str)
    fig, axes = new_figure(1, max(1, len(cases)), sharey=True)
    for c, case in enumerate(cases):
        ax = axes[0, c]
        rows = table[table["case"] == case]
        conditions = sorted(rows["disclosure"].unique().tolist(), key=condition_order)
        run_keys = rows[["run_model", "run_temperature"]].drop_duplicates().itertuples(
            index=False)
        pub_keys = rows[["published_model", "published_temperature"]].drop_duplicates()
        series = [("run", m, t) for m, t in run_keys] + [
            ("published", m, t) for m, t in pub_keys.itertuples(index=False)]
        width = 0.8 / max(1, len(series))
        for s, (side, model, temp) in enumerate(series):
            if side == "run":
                part = rows[(rows["run_model"] == model) & (rows["run_temperature"] == temp)]
                part = part.drop_duplicates("disclosure")
            else:
                part = rows[(rows["published_model"] == model)
                            & (rows["published_temperature"] == temp)]
                part = part.drop_duplicates("disclosure")
            part = part.set_index("disclosure").reindex(conditions)
            rate = part[f"{side}_rate"].to_numpy(dtype=float)
            err = _error_bars(rate, part[f"{side}_lo"], part[f"{side}_hi"])
            x = np.arange(len(conditions)) + (s - (len(series) - 1) / 2) * width
            ax.errorbar(x, rate, yerr=err, fmt="s" if side == "run" else "o", capsize=2,
                        label=f"{'this run' if side == 'run' else 'published'}: {model} "
                              f"T={temp}")
        ax.set_xticks(np.arange(len(conditions)), [str(v) for v in conditions])
        ax.set_ylim(-0.05, 1.1)
        ax.set_xlabel("explanation read by")
        ax.set_title(f"{case}: chose {outcome.replace('_', ' ')}", fontsize=10)
        if c == 0:
            ax.set_ylabel("rate (95% Wilson interval)")
        if c == len(cases) - 1:
            ax.legend(fontsize=7)
    return fig


def _error_bars(rate: np.ndarray, lo: pd.Series, hi: pd.Series) -> np.ndarray:
    """Asymmetric error-bar lengths (2 x n) from interval bounds, never negative."""
    lower = rate - lo.to_numpy(dtype=float)
    upper = hi.to_numpy(dtype=float) - rate
    return np.clip(np.nan_to_num(np.vstack([lower, upper])), 0.0, None)


def _varying(frame: pd.DataFrame, columns: str | Sequence[str] | None) -> list[str]:
    if columns is None:
        return []
    columns = [columns] if isinstance(columns, str) else list(columns)
    return [c for c in columns if c in frame and frame[c].nunique(dropna=False) > 1]


def _levels(frame: pd.DataFrame, column: str) -> list[object]:
    return sorted(frame[column].dropna().unique().tolist(), key=condition_order)


def _hue_labels(table: pd.DataFrame, hues: list[str]) -> pd.Series:
    if not hues:
        return pd.Series("", index=table.index, dtype=object)
    return table[hues].astype(str).agg(", ".join, axis=1).astype(object)
