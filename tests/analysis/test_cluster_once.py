"""cluster="auto" is resolved once per table, so every row names the same covariance; and
`summarise` takes a loaded `Runs` as well as its decisions."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import knob_curve, load_run, revealed_loyalty, summarise
from analysis.clusters import resolve_cluster
from tests.analysis.conftest import decisions, run_into
from tests.analysis.test_loyalty import rational_frame
from tests.conftest import SCENARIOS


@pytest.fixture(scope="module")
def repeated_market(tmp_path_factory) -> pd.DataFrame:
    """A 3-tick rational run of the online market, where customers decide repeatedly (some
    agents meet a customer twice, others never)."""
    out = run_into(tmp_path_factory.mktemp("repeated") / "run",
                   SCENARIOS / "online_shopping.yaml", ("run.ticks=3",))
    return load_run(out).decisions


def test_every_loyalty_row_of_a_repeated_market_names_the_same_covariance(repeated_market):
    table = revealed_loyalty(repeated_market, "agent_id")
    assert len(table) > 1
    assert table["cluster"].unique().tolist() == ["customer"]
    assert table["covariance"].dropna().str.startswith("cluster-robust by customer").all()


def test_a_group_without_repeats_is_still_clustered_like_the_rest():
    repeats = rational_frame(0.4, 200, seed=1).assign(agent_id="a")
    single = rational_frame(0.4, 200, seed=2).assign(agent_id="b")
    single["customer_id"] = [f"u{i}" for i in range(len(single))]
    table = revealed_loyalty(pd.concat([repeats, single], ignore_index=True), "agent_id")
    assert table["cluster"].tolist() == ["customer", "customer"]
    assert table["covariance"].str.startswith("cluster-robust by customer").all()


def test_auto_is_by_run_only_when_every_group_holds_several_runs():
    frame = pd.DataFrame({"run_id": ["r1", "r2", "r3", "r3"], "g": ["x", "x", "y", "y"],
                          "customer_id": ["c1", "c1", "c1", "c1"]})
    assert resolve_cluster(frame, "auto") == "run"
    assert resolve_cluster(frame, "auto", ["g"]) == "customer"
    # the same customer id in different runs is not a repeat
    assert resolve_cluster(frame.iloc[:3], "auto", ["run_id"]) == "decision"


def test_summarise_uses_one_bootstrap_cluster_for_the_whole_table():
    many = decisions({"a": (3, 10, 0)})
    many["run_id"] = [f"r{i % 5}" for i in range(len(many))]
    one = decisions({"b": (3, 10, 0)})
    table = summarise(pd.concat([many, one], ignore_index=True), "disclosure", n_boot=50)
    assert table["cluster"].tolist() == ["customer", "customer"]


def test_knob_curve_bands_name_one_covariance():
    rows = []
    for g, runs in (("x", ["r1", "r2"]), ("y", ["r3"])):
        for run in runs:
            for i in range(40):
                rows.append({"g": g, "run_id": run, "customer_id": f"c{i % 10}",
                             "knob": (i % 4) / 3, "override": (i * 7 + len(run)) % 3 == 0})
    curve = knob_curve(pd.DataFrame(rows), "knob", "override", "g")
    assert curve.cluster == "customer"
    assert curve.curve["covariance"].str.startswith("cluster-robust by customer").all()


def test_summarise_accepts_the_loaded_runs(tin_men_run):
    runs = load_run(tin_men_run)
    pd.testing.assert_frame_equal(summarise(runs, n_boot=50),
                                  summarise(runs.decisions, n_boot=50))


def test_summarise_names_what_to_pass_for_anything_else():
    with pytest.raises(TypeError, match=r"runs\.decisions"):
        summarise([1, 2, 3])
