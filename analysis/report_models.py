"""The report's model and series sections: curves against continuous knobs, the
conditional-logit choice model, per-tick series and the comparison with the published study
(assembled by `analysis.report.build_report`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis import plots
from analysis.choice_model import conditional_logit
from analysis.dynamics import plot_dynamics_overview, read_dynamics
from analysis.effects import (
    CONTINUOUS_KNOBS,
    knob_curve,
)
from analysis.load import Runs
from analysis.published import (
    SOURCE,
    compare_with_published,
    is_tin_men,
    unparsed_sensitivity,
)
from analysis.render import (
    Block,
    Heading,
    Plot,
    Table,
    Text,
    fmt_num,
    fmt_p,
    fmt_rate,
)
from analysis.report_sections import (
    condition_keys,
    sorted_by,
    varying,
)


def knob_columns(runs: Runs) -> list[str]:
    """Numeric knobs with 2+ values: the continuous knobs and numeric sweep cell columns."""
    d = runs.decisions
    candidates = [*CONTINUOUS_KNOBS, *(c for c in runs.cell_columns
                                       if c.split(".")[-1] not in CONTINUOUS_KNOBS
                                       and c != "replicate")]
    out = []
    for column in candidates:
        if column not in d:
            continue
        values = pd.to_numeric(d[column], errors="coerce")
        if values.notna().all() and values.nunique() > 1:
            out.append(column)
    return out


def knobs_section(runs: Runs) -> list[Block]:
    """Rates against each continuous knob: observed points and a fitted logistic curve."""
    knobs = knob_columns(runs)
    if not knobs:
        return []
    d = runs.decisions
    by = "company" if "company" in varying(d, ["company"]) else None
    blocks: list[Block] = [Heading("Rates against continuous knobs"), Text(
        "Observed override rate at each knob value (95% Wilson) and a logistic fit of override "
        "on the knob with a 95% pointwise band from the covariance named under each table "
        "(cluster-robust when decisions repeat within clusters).")]
    for i, knob in enumerate(knobs):
        curve = knob_curve(d, knob, "override", by)
        points = curve.points
        frame = points[[c for c in (by, knob) if c]].copy()
        frame["override"] = [f"{fmt_rate(r, lo, hi)} of {n}" for r, lo, hi, n in
                             zip(points["rate"], points["lo"], points["hi"], points["n"],
                                 strict=True)]
        blocks.append(Table(frame, caption=f"Override rate by `{knob}`; the fitted band's "
                            f"covariance: {curve.covariance}."))
        blocks.append(Plot(f"knob_{i}", plots.knob_plot(d, knob, by=by),
                           f"Override rate against {knob}."))
        if curve.note:
            blocks.append(Text(f"Note: {curve.note}."))
    return blocks


def choice_section(runs: Runs) -> list[Block]:
    """The conditional-logit choice model, when some listing has 3+ products."""
    d = runs.decisions
    sizes = d["listing"].dropna().astype(str).str.count(r"\|") + 1
    if sizes.empty or sizes.max() < 3:
        return []
    result = conditional_logit(d, runs.products(), runs.margins())
    blocks: list[Block] = [Heading("What drives the choice: conditional logit"), Text(
        f"Which listed product the agent bought, on {result.n_decisions} valid choices from "
        f"listings of 3 or more products ({result.n_alternatives} listed alternatives). "
        "Features: price and margin as shares of the customer's budget, an over-budget "
        "indicator, product attributes (attr_*), and listing position when orders vary. Odds "
        "ratios per unit of each feature, 95% Wald intervals.")]
    if result.covariance:
        blocks.append(Text(f"Covariance: {result.covariance}."))
    if result.table.empty:
        blocks.append(Text(f"Not fitted: {result.note}."))
        return blocks
    blocks.append(Table(pd.DataFrame({
        "feature": result.table["term"],
        "coefficient": result.table["coef"].map(fmt_num),
        "odds ratio (95% CI)": [f"{fmt_num(o)} ({fmt_num(lo)} to {fmt_num(hi)})" for o, lo, hi
                                in zip(result.table["odds_ratio"], result.table["lo"],
                                       result.table["hi"], strict=True)],
        "p": result.table["p_value"].map(fmt_p),
    })))
    if result.note:
        blocks.append(Text(f"Note: {result.note}."))
    return blocks


def ticks_section(runs: Runs) -> list[Block]:
    """Per-tick series from ticks.csv, and the market-dynamics overview of a single run with
    a market.csv; nothing for one-tick runs."""
    ticks = runs.ticks
    if ticks.empty or ticks["tick"].max() < 2:
        return []
    blocks: list[Block] = [Heading("Per tick"), Plot(
        "ticks", plots.tick_series(ticks), "Per-tick rates and mean agency loss (ticks.csv); "
        "with a single run, 95% Wilson bands; with many, their mean and range.")]
    if len(runs.run_dirs) == 1 and (runs.run_dirs[0] / "market.csv").is_file():

        files = read_dynamics(runs.run_dirs[0])
        if not files.market.empty:
            blocks.append(Plot("dynamics", plot_dynamics_overview(files.market, files.ticks),
                               "Market dynamics: share, trust, profit and override rate per "
                               "company; welfare and injection success per tick."))
    return blocks


def published_section(runs: Runs) -> list[Block]:
    """For tin_men runs: rates next to the published study's, and the unparsed sensitivity."""
    d = runs.decisions
    if not is_tin_men(d):
        return []
    cells = [c for c in condition_keys(runs)
             if c not in ("company", "disclosure", "model", "temperature")]
    comparison = compare_with_published(d, by=cells)
    blocks: list[Block] = [Heading("Side by side with the published study"), Text(
        f"Source: {SOURCE} Case = customer group; disclosure none / customer / company / both "
        "= the study's explanation shared with none / customer / company / customer+company. "
        "Rates are over readable answers (unparsed answers dropped, as the study did; here the "
        "run's invalid decisions). Each cell: rate (95% Wilson interval); Δ = this run − "
        "published with Fisher's exact p, Holm-corrected over the table; * marks p (Holm) < "
        "0.05.")]
    if comparison.empty:
        blocks.append(Text("No decisions of the vehicle or film case to compare."))
        return blocks
    for outcome, label in (("customer_first", "chose the customer's first preference"),
                           ("company_preferred", "chose the company-preferred product")):
        blocks.append(Table(_comparison_wide(comparison, outcome, cells),
                            caption=f"Share that {label}."))
    blocks.append(Plot("published_comparison", plots.published_comparison_plot(comparison),
                       "This run's rate of choosing the customer's first preference next to "
                       "the published ones."))
    blocks += _unparsed_blocks()
    return blocks


def _comparison_wide(comparison: pd.DataFrame, outcome: str, cells: Sequence[str]
                     ) -> pd.DataFrame:
    table = comparison[comparison["outcome"] == outcome]
    run_keys = ["case", "disclosure", "run_model", "run_temperature", *cells]
    rows = []
    for key, group in table.groupby(run_keys, sort=False, dropna=False):
        first = group.iloc[0]
        row = dict(zip(run_keys, key, strict=True))
        row["this run"] = (f"{fmt_rate(first['run_rate'], first['run_lo'], first['run_hi'])} "
                           f"of {first['run_n']}")
        for _, pub in group.iterrows():
            star = "*" if pub["p_holm"] < 0.05 else ""
            row[f"{pub['published_model']} T={pub['published_temperature']}"] = (
                f"{fmt_rate(pub['published_rate'], pub['published_lo'], pub['published_hi'])}"
                f"; Δ {_delta(pub['diff'])}, {_p_label(pub['p_holm'])}{star}")
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame = sorted_by(frame, ["case", "disclosure"])
    return frame.rename(columns={"run_model": "model", "run_temperature": "T"})


def _delta(diff: float) -> str:
    return "–" if pd.isna(diff) else f"{100 * diff:+.0f} pp"


def _p_label(p: float) -> str:
    text = fmt_p(p)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def _unparsed_blocks() -> list[Block]:
    by = ("model", "temperature", "case")
    table = unparsed_sensitivity(by=by)
    frame = table[list(by)].copy()
    frame["unparsed"] = [f"{u} of {s}" for u, s in zip(table["unparsed"], table["samples"],
                                                       strict=True)]
    for outcome, label in (("customer_first", "customer first"),
                           ("company_preferred", "company preferred")):
        frame[f"{label}, dropped"] = [
            fmt_rate(r, lo, hi) for r, lo, hi in zip(
                table[f"{outcome}_dropped"], table[f"{outcome}_dropped_lo"],
                table[f"{outcome}_dropped_hi"], strict=True)]
        frame[f"{label}, bounds over all samples"] = [
            f"{100 * a:.1f}% to {100 * b:.1f}% (95%: {100 * lo:.1f}% to {100 * hi:.1f}%)"
            for a, b, lo, hi in zip(
                table[f"{outcome}_lower"], table[f"{outcome}_upper"],
                table[f"{outcome}_bound_lo"], table[f"{outcome}_bound_hi"], strict=True)]
    cells = unparsed_sensitivity()
    cells = sorted_by(cells[cells["unparsed"] > 0], ["model", "temperature", "case",
                                                   "disclosure"])
    detail = cells[["model", "temperature", "case", "disclosure"]].copy()
    detail["unparsed"] = [f"{u} of {s}" for u, s in zip(cells["unparsed"], cells["samples"],
                                                        strict=True)]
    for outcome, label in (("customer_first", "customer first"),
                           ("company_preferred", "company preferred")):
        detail[f"{label}: dropped; bounds"] = [
            f"{100 * d:.1f}%; {100 * a:.1f}% to {100 * b:.1f}%" for d, a, b in
            zip(cells[f"{outcome}_dropped"], cells[f"{outcome}_lower"],
                cells[f"{outcome}_upper"], strict=True)]
    return [
        Heading("Published rates: unparsed answers dropped or kept", 3),
        Text("The study dropped answers its parser could not read (most name a product in prose "
             "instead of a `Choice:` line). Next to the rates with them dropped (denominator = "
             "readable answers), the bounds assign every unparsed answer to each outcome in "
             "turn: over all samples an outcome's share lies between k / samples (none of "
             "the unparsed were that outcome) and (k + unparsed) / samples (all were), "
             "whatever they meant; the 95% range widens the bounds by Wilson limits."),
        Table(frame, caption="Per model, temperature and case (all disclosure conditions)."),
        Table(detail.reset_index(drop=True),
              caption="Cells with unparsed answers, per disclosure condition."),
    ]
