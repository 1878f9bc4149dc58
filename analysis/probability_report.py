"""The report's choice-probability section: expected values beside sampled rates."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.metrics import summarise
from analysis.plots import override_probability_plot
from analysis.probabilities import DEFINITIONS, agreement
from analysis.render import Block, Heading, Plot, Table, Text, fmt_mean, fmt_num, fmt_rate


def probability_section(decisions: pd.DataFrame, keys: Sequence[str], *, n_boot: int,
                        seed: int) -> list[Block]:
    """Sampled override rate beside its expected value, agreement, calibration, the plot.

    Empty when no decision carries choice probabilities.
    """
    if "expected_override" not in decisions or decisions["expected_override"].isna().all():
        return []
    table = summarise(decisions, list(keys) or None, n_boot=n_boot, seed=seed)
    shown = table[list(keys)].copy() if keys else pd.DataFrame(index=table.index)
    shown["decisions"] = table["n"]
    shown["with probabilities"] = table["n_probs"]
    shown["override (sampled)"] = [fmt_rate(r, lo, hi) for r, lo, hi in zip(
        table["override_rate"], table["override_lo"], table["override_hi"], strict=True)]
    shown["override (expected)"] = [fmt_mean(r, lo, hi) for r, lo, hi in zip(
        table["expected_override"], table["expected_override_lo"],
        table["expected_override_hi"], strict=True)]
    shown["agency loss (sampled)"] = [fmt_mean(r, lo, hi) for r, lo, hi in zip(
        table["agency_loss"], table["agency_loss_lo"], table["agency_loss_hi"], strict=True)]
    shown["agency loss (expected)"] = [fmt_mean(r, lo, hi) for r, lo, hi in zip(
        table["expected_agency_loss"], table["expected_agency_loss_lo"],
        table["expected_agency_loss_hi"], strict=True)]
    summary, calibration = agreement(decisions)
    kinds = decisions["choice_probs_kind"].dropna().value_counts().to_dict()
    blocks: list[Block] = [
        Heading("Choice probabilities"),
        Text("Decisions whose backend recorded choice probabilities carry their exact "
             "probability of each answer. The expected-value estimates below average those "
             "probabilities (95% cluster-bootstrap intervals, as for the sampled means); "
             "the sampled rates count the answers drawn. Kinds: "
             + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + "."),
        Text(" ".join(f"**{k}**: {v}" for k, v in DEFINITIONS.items())),
        Table(shown, caption="Sampled and expected override rate and agency loss."),
        Text(f"Agreement of the sampled answers with the probabilities over {summary['n']} "
             f"valid decisions: mean log-likelihood of the sampled choice "
             f"{fmt_num(summary['mean_log_likelihood'])} (uniform choice: "
             f"{fmt_num(summary['uniform_log_likelihood'])}); the sampled choice was the most "
             f"probable one in {fmt_num(100 * summary['share_sampled_is_most_likely'], 1)}% "
             f"of decisions; {summary['zero_probability_samples']} sampled choice(s) had "
             "probability 0."),
        Table(calibration, caption="Calibration: options binned by their probability, and "
                                   "how often the binned options were the sampled answer."),
    ]
    condition = keys[0] if keys else "disclosure"
    if condition in decisions:
        blocks.append(Plot("override_probability", override_probability_plot(
            decisions, condition=condition), "Per-decision override probability by "
            f"{condition}; the bar is the sampled override rate."))
    return blocks
