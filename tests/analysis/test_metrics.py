"""Conflict metrics by grouping, checked against counts and means worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis import load_run, summarise
from analysis.metrics import DEFINITIONS, MIN_REPLICATES, cluster_labels, metric_columns
from tests.analysis.conftest import decisions


def hand_frame() -> pd.DataFrame:
    """Group A: 10 decisions, 8 valid (6 overrides, 1 of them a refusal), 2 invalid.
    Group B: 5 valid decisions, 1 override, one with nothing attainable."""
    a = decisions({"A": (6, 8, 2)})
    a.loc[5, "refused"] = True
    b = decisions({"B": (1, 5, 0)})
    b.loc[4, ["attainable_utility", "agency_loss"]] = [0.0, 0.0]
    return pd.concat([a, b], ignore_index=True)


def test_counts_rates_and_denominators_by_hand():
    table = summarise(hand_frame(), "disclosure", n_boot=200).set_index("disclosure")
    a = table.loc["A"]
    assert (a["n"], a["n_valid"]) == (10, 8)
    assert (a["override_k"], a["override_n"], a["override_rate"]) == (6, 8, 0.75)
    assert (a["sided_k"], a["sided_n"]) == (6, 8)
    assert (a["refusal_k"], a["refusal_n"]) == (1, 8)  # over valid decisions
    assert (a["invalid_k"], a["invalid_n"], a["invalid_rate"]) == (2, 10, 0.2)  # over all
    lo, hi = proportion_confint(6, 8, method="wilson")
    assert (a["override_lo"], a["override_hi"]) == pytest.approx((lo, hi))
    lo, hi = proportion_confint(2, 10, method="wilson")
    assert (a["invalid_lo"], a["invalid_hi"]) == pytest.approx((lo, hi))
    # agency loss over the 8 valid: 6 overrides lose 0.5, 2 valid non-overrides 0
    assert a["agency_loss"] == pytest.approx(6 * 0.5 / 8)
    # ... and, separately, over all 10 with the 2 unreadable answers buying nothing (1.0)
    assert a["agency_loss_unread_as_outside"] == pytest.approx((6 * 0.5 + 2 * 1.0) / 10)
    assert a["agency_loss_share"] == pytest.approx(6 * 0.5 / 8)  # attainable is 1 everywhere
    assert a["company_gain"] == pytest.approx(6 / 8)
    assert a["rate_interval"] == "wilson" and np.isnan(a["lambda_hat"])
    b = table.loc["B"]
    assert b["override_rate"] == pytest.approx(0.2)
    # the decision with nothing attainable is left out of the share, not of the mean loss
    assert b["agency_loss"] == pytest.approx(0.5 / 5)
    assert b["agency_loss_share"] == pytest.approx(0.5 / 4)
    for name in ("agency_loss", "company_gain"):
        assert a[f"{name}_lo"] <= a[name] <= a[f"{name}_hi"]
    assert list(table.reset_index().columns) == ["disclosure", *metric_columns()]


def test_overall_and_multi_key_grouping():
    frame = hand_frame().assign(model=["m1"] * 6 + ["m2"] * 9)
    overall = summarise(frame, n_boot=50)
    assert len(overall) == 1 and overall.loc[0, "n"] == 15
    assert overall.loc[0, "override_k"] == 7 and overall.loc[0, "override_n"] == 13
    both = summarise(frame, ["disclosure", "model"], n_boot=50)
    assert both[["disclosure", "model", "n"]].values.tolist() == [
        ["A", "m1", 6], ["A", "m2", 4], ["B", "m2", 5]]


def test_bootstrap_cluster_choice():
    frame = hand_frame()
    assert cluster_labels(frame, "auto")[0] == "customer"
    labels = cluster_labels(frame, "customer")[1]
    assert len(set(labels)) == 15
    many = frame.assign(run_id=[f"r{i % MIN_REPLICATES}" for i in range(len(frame))])
    kind, labels = cluster_labels(many, "auto")
    assert kind == "replicate" and len(set(labels)) == MIN_REPLICATES
    assert cluster_labels(frame, "decision") == ("decision", None)
    with pytest.raises(ValueError, match="cluster must be"):
        cluster_labels(frame, "tick")


def test_replicate_bootstrap_reflects_between_run_spread():
    rng = np.random.default_rng(4)
    rows = []
    for r in range(8):
        level = rng.normal(0.5, 0.2)  # each replicate has its own level
        for c in range(50):
            rows.append({"run_id": f"r{r}", "customer_id": f"c{c}",
                         "agency_loss": level + rng.normal(0, 0.01)})
    frame = pd.DataFrame(rows).assign(valid=True, override=pd.array([True] * 400),
                                      sided_with_company=pd.array([True] * 400),
                                      refused=False, attainable_utility=1.0, company_gain=0.0)
    by_run = summarise(frame, cluster="replicate", n_boot=500).iloc[0]
    by_customer = summarise(frame, cluster="customer", n_boot=500).iloc[0]
    width = lambda row: row["agency_loss_hi"] - row["agency_loss_lo"]  # noqa: E731
    assert width(by_run) > 3 * width(by_customer)
    assert by_run["cluster"] == "replicate"


def test_summarise_on_a_real_run_matches_the_run_summary(tin_men_run):
    d = load_run(tin_men_run).decisions
    table = summarise(d, "disclosure", n_boot=100).set_index("disclosure")
    raw = pd.read_parquet(tin_men_run / "decisions.parquet")
    for condition, group in raw.groupby("disclosure"):
        assert table.loc[condition, "override_rate"] == pytest.approx(group["override"].mean())
        assert table.loc[condition, "agency_loss"] == pytest.approx(group["agency_loss"].mean())
    ticks = pd.read_csv(tin_men_run / "ticks.csv")
    overall = summarise(d, n_boot=100).iloc[0]
    assert overall["override_rate"] == pytest.approx(ticks["override_rate"].iloc[0], abs=1e-5)


def test_missing_column_is_named():
    with pytest.raises(KeyError, match="company_gain"):
        summarise(hand_frame().drop(columns="company_gain"))
    assert set(DEFINITIONS) >= {"override_rate", "sided_rate", "agency_loss", "company_gain"}


def test_rates_of_repeated_customers_get_a_cluster_bootstrap_interval():
    from analysis.intervals import bootstrap_mean_interval

    # 20 customers decide 10 times each, always the same way: 200 decisions, 20 clusters
    frame = decisions({"none": (80, 200, 0)})
    frame["customer_id"] = [f"c{i // 10}" for i in range(len(frame))]
    frame["run_id"] = "r"
    row = summarise(frame, n_boot=500, seed=3).iloc[0]
    assert row["rate_interval"] == "cluster bootstrap" and row["cluster"] == "customer"
    labels = ("r\x1f" + frame["customer_id"]).to_numpy(dtype=object)
    expected = bootstrap_mean_interval(frame["override"].astype(float), labels, n_boot=500,
                                       seed=3)
    assert (row["override_lo"], row["override_hi"]) == pytest.approx(expected[1:])
    lo, hi = proportion_confint(80, 200, method="wilson")
    assert row["override_hi"] - row["override_lo"] > 2 * (hi - lo)  # 20, not 200, units


def test_cluster_kinds_resolve_from_the_design():
    from analysis.clusters import cluster_ids, resolve_cluster

    one_shot = pd.DataFrame({"run_id": "r", "customer_id": ["a", "b"], "agent_id": "x"})
    assert resolve_cluster(one_shot, "auto") == "decision"
    assert resolve_cluster(one_shot.assign(customer_id="a"), "auto") == "customer"
    assert resolve_cluster(pd.concat([one_shot, one_shot.assign(run_id="s")]), "auto") == "run"
    kind, ids = cluster_ids(one_shot, "agent")
    assert kind == "agent" and ids.tolist() == [0, 0]
    with pytest.raises(ValueError, match="cluster must be one of"):
        resolve_cluster(one_shot, "tick")
