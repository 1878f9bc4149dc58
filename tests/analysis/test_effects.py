"""Observation gap, pairwise tests, logistic regression and knob curves vs hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from analysis import (
    information_knobs,
    knob_curve,
    load_run,
    logistic_regression,
    observation_gap,
    pairwise_tests,
)
from analysis.intervals import newcombe_interval
from tests.analysis.conftest import decisions

# overrides, valid, invalid per disclosure condition
CELLS = {"none": (20, 25, 1), "customer": (6, 24, 2), "company": (22, 25, 0),
         "both": (9, 25, 3)}


def test_observation_gap_against_a_written_down_2x2():
    table = observation_gap(decisions(CELLS)).set_index(["observer", "metric"])
    row = table.loc[("customer", "override")]
    # customer reads in {customer, both}: 6 + 9 = 15 of 49 valid; otherwise 20 + 22 = 42 of 50
    assert (row["k_watched"], row["n_watched"]) == (15, 49)
    assert (row["k_unwatched"], row["n_unwatched"]) == (42, 50)
    assert row["gap"] == pytest.approx(15 / 49 - 42 / 50)
    assert row["p_value"] == pytest.approx(stats.fisher_exact([[15, 34], [42, 8]]).pvalue)
    assert (row["gap_lo"], row["gap_hi"]) == pytest.approx(newcombe_interval(15, 49, 42, 50)[1:])
    company = table.loc[("company", "override")]
    # company reads in {company, both}: 22 + 9 = 31 of 50; otherwise 20 + 6 = 26 of 49
    assert (company["k_watched"], company["n_watched"]) == (31, 50)
    assert (company["k_unwatched"], company["n_unwatched"]) == (26, 49)
    assert company["p_value"] == pytest.approx(stats.fisher_exact([[31, 19], [26, 23]]).pvalue)
    family = table["p_value"].to_numpy()
    assert table["p_holm"].to_numpy() == pytest.approx(multipletests(family, method="holm")[1])


def test_observation_gap_by_group_and_without_contrast():
    frame = pd.concat([decisions(CELLS, company="a"), decisions({"none": (3, 5, 0),
                                                                 "both": (1, 5, 0)},
                                                                company="b")])
    table = observation_gap(frame, "company")
    # sided_with_company equals override on these decisions: tested once, and said so
    assert len(table) == 4 and set(table["company"]) == {"a", "b"}
    assert set(table["metric"]) == {"override"}
    assert table.attrs["identical"] == {"sided_with_company": "override"}
    assert "tested once" in table.attrs["note"]
    b = table[(table["company"] == "b") & (table["observer"] == "customer")
              & (table["metric"] == "override")].iloc[0]
    assert (b["k_watched"], b["n_watched"], b["k_unwatched"], b["n_unwatched"]) == (1, 5, 3, 5)
    only = observation_gap(decisions({"none": (3, 5, 0)}))
    assert (only["n_watched"] == 0).all() and only["gap"].isna().all()


def test_pairwise_fisher_and_holm():
    table = pairwise_tests(decisions(CELLS), metrics=["override"])
    assert len(table) == 6
    assert list(zip(table["a"], table["b"], strict=True))[:3] == [
        ("none", "customer"), ("none", "company"), ("none", "both")]
    row = table[(table["a"] == "customer") & (table["b"] == "both")].iloc[0]
    assert row["p_value"] == pytest.approx(stats.fisher_exact([[6, 18], [9, 16]]).pvalue)
    assert row["diff"] == pytest.approx(6 / 24 - 9 / 25)
    assert table["p_holm"].to_numpy() == pytest.approx(
        multipletests(table["p_value"].to_numpy(), method="holm")[1])


def test_pairwise_chi2_option():
    table = pairwise_tests(decisions(CELLS), metrics=["override"], test="chi2")
    row = table[(table["a"] == "none") & (table["b"] == "customer")].iloc[0]
    expected = stats.chi2_contingency([[20, 5], [6, 18]], correction=True).pvalue
    assert row["p_value"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="fisher"):
        pairwise_tests(decisions(CELLS), test="t")


def test_logistic_odds_ratio_equals_the_2x2_odds_ratio():
    frame = decisions({"none": (20, 25, 1), "customer": (6, 24, 2)}, model="m", temperature=0.2)
    frame["customer_reads"] = frame["disclosure"] == "customer"
    result = logistic_regression(frame, knobs=["customer_reads"])
    row = result.table.set_index("term").loc["customer_reads"]
    # watched: 6 overrides, 18 not; unwatched: 20 overrides, 5 not
    odds_ratio = (6 / 18) / (20 / 5)
    se = math.sqrt(1 / 6 + 1 / 18 + 1 / 20 + 1 / 5)  # Woolf
    assert row["odds_ratio"] == pytest.approx(odds_ratio, rel=1e-6)
    assert row["lo"] == pytest.approx(math.exp(math.log(odds_ratio) - 1.959964 * se), rel=1e-5)
    assert row["hi"] == pytest.approx(math.exp(math.log(odds_ratio) + 1.959964 * se), rel=1e-5)
    assert not row["separated"] and result.n == 49  # invalid decisions dropped
    assert result.formula == "override ~ customer_reads"  # model, temperature do not vary


def test_logistic_factors_enter_only_when_they_vary():
    a = decisions({"none": (20, 25, 0), "both": (9, 25, 0)}, model="m1")
    b = decisions({"none": (15, 25, 0), "both": (12, 25, 0)}, model="m2")
    frame = pd.concat([a, b], ignore_index=True).assign(temperature=0.7)
    frame["customer_reads"] = frame["disclosure"] == "both"
    frame["company_reads"] = frame["disclosure"] == "both"
    assert information_knobs(frame) == ["customer_reads", "company_reads"]
    result = logistic_regression(frame, knobs=["customer_reads"])
    assert result.formula == "override ~ customer_reads + C(model)"
    assert list(result.table["term"]) == ["customer_reads", "model[m2]"]


def test_logistic_flags_separation_and_degenerate_outcomes():
    frame = decisions({"none": (25, 25, 0), "customer": (5, 25, 0)})
    frame["customer_reads"] = frame["disclosure"] == "customer"
    result = logistic_regression(frame, knobs=["customer_reads"])
    assert result.table["separated"].all() and "separation" in result.note
    constant = decisions({"none": (10, 10, 0), "customer": (10, 10, 0)})
    constant["customer_reads"] = constant["disclosure"] == "customer"
    result = logistic_regression(constant, knobs=["customer_reads"])
    assert result.table.empty and "every valid decision" in result.note


def test_logistic_on_a_real_run(tin_men_run):
    d = load_run(tin_men_run).decisions
    result = logistic_regression(d, factors=("model", "temperature", "company"))
    assert result.formula == "override ~ customer_reads + company_reads + C(company)"
    terms = result.table.set_index("term")
    # the rational agent is deterred by a watching customer, emboldened by a watching company
    assert terms.loc["customer_reads", "hi"] < 1 < terms.loc["company_reads", "lo"]


def test_knob_curve_with_two_values_is_saturated():
    frame = decisions({0.0: (30, 40, 0), 1.0: (10, 40, 0)}, column="monitoring")
    curve = knob_curve(frame, "monitoring", grid=11)
    points = curve.points.set_index("monitoring")
    assert points.loc[0.0, "rate"] == 0.75 and points.loc[1.0, "rate"] == 0.25
    lo, hi = proportion_confint(30, 40, method="wilson")
    assert (points.loc[0.0, "lo"], points.loc[0.0, "hi"]) == pytest.approx((lo, hi))
    fitted = curve.curve.set_index("monitoring")
    assert fitted.loc[0.0, "fitted"] == pytest.approx(0.75, abs=1e-6)
    assert fitted.loc[1.0, "fitted"] == pytest.approx(0.25, abs=1e-6)
    # the band at an observed value: logit(p) ± z·sqrt(1/k + 1/(n − k)), mapped back
    eta, se = math.log(30 / 10), math.sqrt(1 / 30 + 1 / 10)
    expit = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert fitted.loc[0.0, "lo"] == pytest.approx(expit(eta - 1.959964 * se), abs=1e-5)
    assert fitted.loc[0.0, "hi"] == pytest.approx(expit(eta + 1.959964 * se), abs=1e-5)
    assert fitted["fitted"].is_monotonic_decreasing


def test_knob_curve_recovers_a_known_slope_per_group():
    rng = np.random.default_rng(8)
    frames = []
    for group, slope in (("g1", -3.0), ("g2", 2.0)):
        x = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=2000)
        p = 1 / (1 + np.exp(-(0.5 + slope * x)))
        frames.append(pd.DataFrame({"company": group, "monitoring": x,
                                    "override": pd.array(rng.random(2000) < p)}))
    curve = knob_curve(pd.concat(frames), "monitoring", by="company", grid=5)
    c = curve.curve
    g1 = c[c["company"] == "g1"].set_index("monitoring")["fitted"]
    g2 = c[c["company"] == "g2"].set_index("monitoring")["fitted"]
    assert g1.loc[1.0] == pytest.approx(1 / (1 + math.exp(2.5)), abs=0.04)
    assert g2.loc[1.0] == pytest.approx(1 / (1 + math.exp(-2.5)), abs=0.04)
    assert (c["lo"] <= c["fitted"]).all() and (c["fitted"] <= c["hi"]).all()
    single = knob_curve(decisions({0.3: (3, 10, 0)}, column="monitoring"), "monitoring")
    assert single.curve.empty and "distinct values" in single.note


def test_identical_metrics_are_tested_once_and_distinct_ones_twice():
    same = decisions({"none": (20, 25, 1), "both": (6, 24, 2)})
    table = pairwise_tests(same)
    assert set(table["metric"]) == {"override"}
    assert table.attrs["identical"] == {"sided_with_company": "override"}
    differ = decisions({"none": (20, 25, 1), "both": (6, 24, 2)}, sided_equals_override=False)
    differ["sided_with_company"] = differ["override"]
    differ.loc[differ.index[0], "sided_with_company"] = not bool(differ["override"].iloc[0])
    table = pairwise_tests(differ)
    assert set(table["metric"]) == {"override", "sided_with_company"}
    assert table.attrs["identical"] == {}
    # the Holm family of the observation gap shrinks to the distinct tests
    gap = observation_gap(same)
    expected = multipletests(gap["p_value"], method="holm")[1]
    assert gap["p_holm"].to_numpy() == pytest.approx(expected)
