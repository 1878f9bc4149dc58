"""Expected-value metrics and the agreement of sampled choices with the probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.metrics import summarise
from analysis.plots import override_probability_plot
from analysis.probabilities import agreement


def frame(n=2000, seed=0):
    """Decisions drawn from their own probabilities over two products and `none`."""
    rng = np.random.default_rng(seed)
    p_first = rng.uniform(0.1, 0.9, n)
    probs = np.stack([p_first, (1 - p_first) * 0.9, (1 - p_first) * 0.1], axis=1)
    drawn = np.array([rng.choice(3, p=row) for row in probs])
    override = drawn != 0  # product 1 is customer-best
    return pd.DataFrame({
        "customer_id": [f"c{i % 50}" for i in range(n)],
        "disclosure": np.where(np.arange(n) % 2, "none", "customer"),
        "valid": True, "override": override, "sided_with_company": drawn == 1,
        "refused": drawn == 2, "choice_number": np.where(drawn < 2, drawn + 1, np.nan),
        "agency_loss": override * 0.5, "attainable_utility": 1.0, "company_gain": 0.0,
        "choice_probs": list(probs), "choice_prob_mass": 1.0, "choice_probs_kind": "direct",
        "p_customer_best": p_first, "p_company_best": probs[:, 1],
        "expected_override": 1 - p_first, "expected_agency_loss": (1 - p_first) * 0.5,
    })


def test_expected_override_sits_beside_the_sampled_rate_with_a_narrower_interval():
    d = frame()
    row = summarise(d, n_boot=300).iloc[0]
    assert row["n_probs"] == len(d)
    assert row["expected_override"] == pytest.approx((1 - d.p_customer_best).mean())
    assert abs(row["expected_override"] - row["override_rate"]) < 0.04
    width_expected = row["expected_override_hi"] - row["expected_override_lo"]
    width_sampled = row["override_hi"] - row["override_lo"]
    assert width_expected < width_sampled


def test_without_probabilities_the_expected_columns_are_nan():
    d = frame(200).drop(columns=["expected_override", "expected_agency_loss",
                                 "p_company_best"])
    row = summarise(d, n_boot=50).iloc[0]
    assert row["n_probs"] == 0 and np.isnan(row["expected_override"])


def test_agreement_is_calibrated_when_the_draws_follow_the_probabilities():
    summary, calibration = agreement(frame())
    assert summary["n"] == 2000 and summary["zero_probability_samples"] == 0
    assert summary["mean_log_likelihood"] > summary["uniform_log_likelihood"]
    big = calibration[calibration.n >= 200]
    assert (abs(big.sampled_freq - big.mean_prob) < 0.06).all()


def test_a_reversed_mapping_is_visible_in_the_agreement():
    d = frame()
    d["choice_probs"] = [row[[1, 0, 2]] for row in d.choice_probs]
    honest, _ = agreement(frame())
    reversed_, calibration = agreement(d)
    assert reversed_["mean_log_likelihood"] < honest["mean_log_likelihood"] - 0.1


def test_the_plot_draws_one_column_per_condition():
    fig = override_probability_plot(frame(300))
    # conditions in the design order of every other plot (`analysis.effects.condition_order`)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["none", "customer"]
