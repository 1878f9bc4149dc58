"""`tinmen report`: a run's or sweep's tables and figures as report.md and report.html.

Sections: runs and their status; conflict metrics by condition (with denominators); the
observation gap; pairwise tests between disclosure conditions (Holm-corrected); a logistic
regression of override on the information knobs; curves against continuous knobs; a
conditional-logit choice model (listings of 3+ products); per-tick series; and, for the
tin_men scenario, the comparison with the published study.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from agents.errors import AnalysisError
from analysis import plots
from analysis.choice_model import conditional_logit
from analysis.dynamics import plot_dynamics_overview, read_dynamics
from analysis.effects import (
    CONTINUOUS_KNOBS,
    condition_order,
    knob_curve,
    logistic_regression,
    observation_gap,
    pairwise_tests,
)
from analysis.intervals import DEFAULT_BOOTSTRAP
from analysis.load import Runs, load_runs
from analysis.metrics import DEFINITIONS, summarise
from analysis.probability_report import probability_section
from analysis.published import (
    SOURCE,
    compare_with_published,
    is_tin_men,
    unparsed_sensitivity,
)
from analysis.render import (
    Block,
    Bullets,
    Collapsed,
    Contents,
    Heading,
    Plot,
    Table,
    Text,
    fmt_mean,
    fmt_num,
    fmt_p,
    fmt_rate,
    save_figures,
    to_html,
    to_markdown,
)

MAX_RUN_ROWS = 50
"""Runs listed individually in the report; more are summarised by status."""


@dataclass(frozen=True)
class ReportFiles:
    """Where a report was written."""

    markdown: Path
    html: Path
    figures: tuple[Path, ...]


def write_report(path: str | Path, out_dir: str | Path | None = None, *,
                 n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> ReportFiles:
    """Load the run or sweep at `path` and write report.md, report.html and figures/.

    `out_dir` defaults to `path`. `n_boot` and `seed` set the bootstrap of mean intervals.
    """
    if n_boot < 1:
        raise AnalysisError(f"bootstrap replicates must be at least 1, got {n_boot}")
    source = Path(path)
    runs = load_runs(source)
    out = Path(out_dir) if out_dir is not None else source
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnalysisError(f"{out}: cannot create the report directory ({exc.strerror})"
                            ) from exc
    title = f"tinmen report: {source.resolve().name}"
    blocks = build_report(runs, title=title, n_boot=n_boot, seed=seed)
    try:
        figures = save_figures(blocks, out)
        markdown = out / "report.md"
        html = out / "report.html"
        markdown.write_text(to_markdown(blocks), encoding="utf-8")
        html.write_text(to_html(blocks, title), encoding="utf-8")
    except OSError as exc:
        raise AnalysisError(f"{out}: cannot write the report ({exc.strerror}); choose another "
                            "output directory") from exc
    return ReportFiles(markdown, html, tuple(figures))


def build_report(runs: Runs, *, title: str = "tinmen report",
                 n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> list[Block]:
    """Every section of the report as blocks (see `analysis.render`)."""
    d = runs.decisions
    blocks: list[Block] = [Heading(title, 1), Text(
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} from "
        f"`{runs.root}`: {len(runs.runs)} run(s), {len(d)} decisions. Intervals are 95%: "
        f"Wilson for rates, a seeded percentile bootstrap ({n_boot} resamples, seed {seed}) "
        "for means.")]
    if d.empty:
        blocks += runs_warning(runs)
        blocks.append(Text("**No decisions were recorded**, so there is nothing to analyse."))
        blocks += runs_section(runs)
        return blocks
    sections: list[tuple[str, Callable[[], list[Block]]]] = [
        ("Summary", lambda: summary_section(runs, n_boot=n_boot, seed=seed)),
        ("Contents", lambda: [Contents()]),
        ("Conflict metrics", lambda: metrics_section(runs, n_boot=n_boot, seed=seed)),
        ("Choice probabilities", lambda: probability_section(
            runs.decisions, condition_keys(runs), n_boot=n_boot, seed=seed)),
        ("Observation gap", lambda: gap_section(runs)),
        ("Pairwise tests", lambda: pairwise_section(runs)),
        ("Logistic regression", lambda: regression_section(runs)),
        ("Continuous knobs", lambda: knobs_section(runs)),
        ("Choice model", lambda: choice_section(runs)),
        ("Per tick", lambda: ticks_section(runs)),
        ("Published study", lambda: published_section(runs)),
        ("Runs", lambda: [Collapsed(f"Runs ({len(runs.runs)}): status, ticks and size of each",
                                    runs_section(runs))]),
    ]
    for name, section in sections:
        try:
            blocks += section()
        except Exception as exc:  # noqa: BLE001 - one failing analysis must not hide the rest
            blocks += [Heading(name), Text(
                f"**This section failed**: {type(exc).__name__}: {exc}. Other sections are "
                "unaffected; please report it with the run directory."),
                Text("`" + traceback.format_exc(limit=1).strip().splitlines()[-1] + "`")]
    return blocks


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


def _sorted(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
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
        f"**Warning:** {len(incomplete)} run(s) did not complete ("
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
    sizes = f"{len(runs.runs)} run(s), {len(d)} decisions"
    if not parts:
        return f"{sizes}; no knob varies, so the results are one cell."
    return f"{sizes}. Varied: " + "; ".join(parts) + "."


def summary_section(runs: Runs, *, n_boot: int, seed: int) -> list[Block]:
    """The headline: what varies, the main metrics by condition with intervals and cell
    sizes, and the two key figures."""
    d = runs.decisions
    keys = condition_keys(runs)
    table = _sorted(summarise(d, keys, n_boot=n_boot, seed=seed), keys)
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
    by = "disclosure" if "disclosure" in varying(d, ["disclosure"]) else (
        (varying(d, ["model", "temperature", "company"]) or ["disclosure"])[0])
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
                        ("company_gain", "company gain")):
        out[label] = [fmt_mean(m, lo, hi) for m, lo, hi in
                      zip(table[mean], table[f"{mean}_lo"], table[f"{mean}_hi"], strict=True)]
    return out


def metrics_section(runs: Runs, *, n_boot: int, seed: int) -> list[Block]:
    """Definitions and denominators, the metrics by condition and overall, and figures."""
    d = runs.decisions
    keys = condition_keys(runs)
    table = _sorted(summarise(d, keys, n_boot=n_boot, seed=seed), keys)
    clusters = sorted(table["cluster"].unique().tolist())
    blocks: list[Block] = [
        Heading("Conflict metrics"),
        Text("Rates are shares with a 95% Wilson interval; means have a 95% bootstrap "
             f"interval resampling {', '.join(clusters)} clusters. Definitions and "
             "denominators:"),
        Bullets([f"**{name}**: {text}" for name, text in DEFINITIONS.items()]),
        Table(metric_display(table, keys),
              caption="By condition" + (f" ({', '.join(keys)})" if keys else "") + "."),
    ]
    overall = model_keys(runs)
    if overall != keys:
        table = _sorted(summarise(d, overall or None, n_boot=n_boot, seed=seed), overall)
        blocks.append(Table(metric_display(table, overall),
                            caption="Overall" + (f", by {', '.join(overall)}" if overall
                                                 else "") + "."))
    facet = "company" if "company" in varying(d, ["company"]) else None
    by = "disclosure" if "disclosure" in varying(d, ["disclosure"]) else (
        (varying(d, ["model", "temperature", "company"]) or ["disclosure"])[0])
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
            Table(frame.reset_index(drop=True))]


def regression_section(runs: Runs) -> list[Block]:
    """Logistic regression of override on the information knobs."""
    d = runs.decisions
    factors = varying(d, ["model", "temperature", "company"])
    result = logistic_regression(d, "override", factors=factors)
    blocks: list[Block] = [Heading("Logistic regression of override"), Text(
        f"`{result.formula}` on {result.n} valid decisions (binomial GLM). customer_reads / "
        "company_reads are 1 when that principal reads the explanation; categorical factors "
        "(company, model, temperature) enter only when they vary, against their first level. "
        "Odds ratios with 95% Wald intervals.")]
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
        "on the knob with a 95% pointwise band.")]
    for i, knob in enumerate(knobs):
        curve = knob_curve(d, knob, "override", by)
        points = curve.points
        frame = points[[c for c in (by, knob) if c]].copy()
        frame["override"] = [f"{fmt_rate(r, lo, hi)} of {n}" for r, lo, hi, n in
                             zip(points["rate"], points["lo"], points["hi"], points["n"],
                                 strict=True)]
        blocks.append(Table(frame, caption=f"Override rate by `{knob}`."))
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
    frame = _sorted(frame, ["case", "disclosure"])
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
        frame[f"{label}, kept"] = [
            fmt_rate(r, lo, hi) for r, lo, hi in zip(
                table[f"{outcome}_kept"], table[f"{outcome}_kept_lo"],
                table[f"{outcome}_kept_hi"], strict=True)]
    cells = unparsed_sensitivity()
    cells = _sorted(cells[cells["unparsed"] > 0], ["model", "temperature", "case",
                                                   "disclosure"])
    detail = cells[["model", "temperature", "case", "disclosure"]].copy()
    detail["unparsed"] = [f"{u} of {s}" for u, s in zip(cells["unparsed"], cells["samples"],
                                                        strict=True)]
    detail["customer first, dropped → kept"] = [
        f"{100 * a:.1f}% → {100 * b:.1f}%" for a, b in
        zip(cells["customer_first_dropped"], cells["customer_first_kept"], strict=True)]
    detail["company preferred, dropped → kept"] = [
        f"{100 * a:.1f}% → {100 * b:.1f}%" for a, b in
        zip(cells["company_preferred_dropped"], cells["company_preferred_kept"], strict=True)]
    return [
        Heading("Published rates: unparsed answers dropped or kept", 3),
        Text("The study dropped answers its parser could not read (most name a product in prose "
             "instead of a `Choice:` line). Dropping them (denominator = readable answers) "
             "versus keeping them as their own category (denominator = all 30 samples per "
             "cell) changes the published rates as follows."),
        Table(frame, caption="Per model, temperature and case (all disclosure conditions)."),
        Table(detail.reset_index(drop=True),
              caption="Cells with unparsed answers, per disclosure condition."),
    ]
