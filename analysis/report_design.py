"""Report sections for the design and its models: cell sizes and listing orders, the agent's
revealed loyalty λ̂, and the customer-reads × company-reads interaction logit.

Each function takes the loaded `Runs` and returns render blocks (see `analysis.render`), like
the sections of `analysis.report`; they are self-contained so the report's layout can move
them freely.
"""

from __future__ import annotations

import pandas as pd

from analysis.effects import condition_order
from analysis.load import Runs
from analysis.loyalty import has_options, revealed_loyalty
from analysis.metrics import summarise
from analysis.regression import interaction_logit
from analysis.render import Block, Heading, Table, Text, fmt_num, fmt_p, fmt_rate

ORDER_COLUMN = "listing"


def _varying(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c in frame and frame[c].nunique(dropna=True) > 1]


def _sort(frame: pd.DataFrame) -> pd.DataFrame:
    if "disclosure" not in frame or frame.empty:
        return frame
    return frame.sort_values("disclosure", key=lambda s: s.map(condition_order),
                             kind="stable").reset_index(drop=True)


def counterbalanced(decisions: pd.DataFrame) -> bool:
    """Whether listing orders vary within a disclosure condition (orders counterbalanced or
    shuffled), so results should also be read by order."""
    if ORDER_COLUMN not in decisions or decisions.empty:
        return False
    keys = _varying(decisions, ["company", "disclosure"])
    if not keys:
        return decisions[ORDER_COLUMN].nunique() > 1
    return bool((decisions.groupby(keys, observed=True)[ORDER_COLUMN].nunique() > 1).any())


def design_section(runs: Runs) -> list[Block]:
    """Decisions per design cell, and the rates split by listing order when it varies."""
    d = runs.decisions
    keys = _varying(d, ["company", "disclosure", "model"])
    blocks: list[Block] = [Heading("Design cells"), Text(
        "Decisions per cell of the design (all decisions, and valid ones). Conditions rotate "
        "over each company's decisions across the whole run, so cells differ by at most one "
        "decision per company and run unless agents' capacity or failures intervene.")]
    if not keys:
        blocks.append(Text(f"A single cell: {len(d)} decisions."))
        return blocks
    sizes = d.groupby(keys, observed=True).agg(
        decisions=("valid", "size"), valid=("valid", "sum")).reset_index()
    blocks.append(Table(_sort(sizes)))
    if counterbalanced(d) and d[ORDER_COLUMN].nunique() <= 12:
        by = [*keys, ORDER_COLUMN]
        table = _sort(summarise(d, by, n_boot=200))
        frame = table[by].rename(columns={ORDER_COLUMN: "listing order"}).copy()
        frame["n"] = table["n"]
        for rate, label in (("override", "override"), ("sided", "sided with company")):
            frame[label] = [fmt_rate(r, lo, hi) for r, lo, hi in zip(
                table[f"{rate}_rate"], table[f"{rate}_lo"], table[f"{rate}_hi"], strict=True)]
        blocks += [Heading("By listing order", 3), Text(
            "Listing orders were counterbalanced (or shuffled), so each condition's rates are "
            "also shown per order of the products (ids in the order listed). A difference "
            "between orders is a position effect."), Table(frame)]
    return blocks


def loyalty_section(runs: Runs) -> list[Block]:
    """λ̂ overall, by disclosure condition and by model."""
    d = runs.decisions
    blocks: list[Block] = [Heading("Revealed loyalty λ̂: the agent's weight on the company"),
                           Text(
        "A conditional logit over each valid decision's affordable listed products (plus "
        "buying nothing when some decision did), with the customer's and the company's "
        "utility rescaled to [0, 1] as the rational baseline does: λ̂ = β_company / "
        "(β_customer + β_company) is the weight the agent's choices reveal on the company "
        "(0 = serves only the customer, 1 = only the company). 95% delta-method intervals "
        "from the covariance named per row: the cluster-robust sandwich "
        "G/(G−1)·H⁻¹(Σ_g s_g s_gᵀ)H⁻¹ when decisions repeat within clusters (runs of a "
        "sweep, customers of a repeated market), else model-based.")]
    if not has_options(d):
        blocks.append(Text("Not available: these runs were recorded without per-option "
                           "utilities."))
        return blocks
    rows = []
    for by in (None, *(_varying(d, ["disclosure", "model", "company"]))):
        table = revealed_loyalty(d, by)
        for _, row in table.iterrows():
            label = "all decisions" if by is None else f"{by} = {row[by]}"
            rows.append({
                "group": label, "decisions": row["n_decisions"],
                "λ̂ (95% CI)": ("–" if pd.isna(row["lambda_hat"]) else
                               f"{fmt_num(row['lambda_hat'])} ({fmt_num(row['lambda_lo'])} "
                               f"to {fmt_num(row['lambda_hi'])})"),
                "β customer": fmt_num(row["beta_customer"]),
                "β company": fmt_num(row["beta_company"]),
                "covariance": row["covariance"], "note": row["note"]})
    blocks.append(Table(pd.DataFrame(rows)))
    return blocks


def interaction_section(runs: Runs) -> list[Block]:
    """Logits of override and sided-with-company on customer_reads × company_reads."""
    d = runs.decisions
    if "disclosure" not in d or d["disclosure"].nunique() < 4:
        return []
    blocks: list[Block] = [Heading("Interaction model: customer reads × company reads"), Text(
        "Logit of each outcome on customer_reads, company_reads and their product (model as a "
        "factor when it varies), over valid decisions. When a cell's outcome is all 0 or all "
        "1 (separation) the model is refitted by Firth's penalised likelihood, named below. "
        "Odds ratios with 95% intervals: Wald from cluster-robust standard errors for "
        "maximum likelihood, profile penalised-likelihood (as logistf) for Firth; each "
        "table names its interval.")]
    same = (d["override"].isna().equals(d["sided_with_company"].isna())
            and (d["override"].dropna().astype(bool)
                 == d["sided_with_company"].dropna().astype(bool)).all())
    outcomes = ["override"] if same else ["override", "sided_with_company"]
    if same:
        blocks.append(Text("sided_with_company equals override on every decision of this "
                           "design, so it is modelled once (as override)."))
    for outcome in outcomes:
        result = interaction_logit(d, outcome)
        if result.table.empty:
            blocks.append(Text(f"{outcome}: not fitted ({result.note})."))
            continue
        frame = pd.DataFrame({
            "term": result.table["term"],
            "odds ratio (95% CI)": [f"{fmt_num(o)} ({fmt_num(lo)} to {fmt_num(hi)})"
                                    for o, lo, hi in zip(result.table["odds_ratio"],
                                                         result.table["lo"],
                                                         result.table["hi"], strict=True)],
            "p": result.table["p_value"].map(fmt_p)})
        blocks.append(Table(frame, caption=(
            f"{outcome}: {result.method}, {result.n} decisions, standard errors clustered by "
            f"{result.cluster} ({result.n_clusters} clusters); intervals: "
            f"{result.interval}.")))
        if result.note:
            blocks.append(Text(f"Note: {result.note}."))
    return blocks
