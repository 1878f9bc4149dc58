"""The shipped market-dynamics scenarios say what they promise and show it when run."""

from __future__ import annotations

import pandas as pd

from cli.main import main
from sim.engine.run import run_scenario
from sim.scenario.loader import load_scenario
from sim.scenario.schema import SmallWorld
from tests.conftest import SCENARIOS, mini_scenario


def test_market_dynamics_design():
    scenario = load_scenario(SCENARIOS / "market_dynamics.yaml")
    dynamics = scenario.dynamics
    assert scenario.run.ticks == 50 and dynamics is not None
    assert dynamics.switching is not None and dynamics.trust.learning_rate > 0
    assert isinstance(dynamics.word_of_mouth.network, SmallWorld)
    assert scenario.information.outcome_observability > 0


def test_market_dynamics_moves_shares_away_from_the_pushy_shop(tmp_path):
    scenario = load_scenario(SCENARIOS / "market_dynamics.yaml", ["run.ticks=15"])
    run_scenario(scenario, tmp_path / "run", progress=False)
    market = pd.read_csv(tmp_path / "run" / "market.csv")
    share = market.pivot(index="tick", columns="company", values="share")
    assert share.loc[15, "apex"] < share.loc[1, "apex"] - 0.2
    assert share.loc[15, "valuehub"] > share.loc[1, "valuehub"]
    overrides = market.groupby("company").override_rate.mean()
    assert overrides["apex"] > 0.5 > overrides["valuehub"]


def test_seller_injection_as_shipped(tmp_path):
    scenario = load_scenario(SCENARIOS / "seller_injection.yaml")
    injected = [p.id for p in scenario.products if p.injected]
    assert injected == ["boostbuds"] and any(p.seller_text for p in scenario.products
                                             if not p.injected)
    run_scenario(scenario, tmp_path / "run", progress=False)
    d = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    rate = d.groupby("company").injection_success.mean()
    assert rate["quickcart"] > 0.9 and rate["trustmart"] == 0.0
    assert len(pd.read_csv(tmp_path / "run" / "sanctions.csv")) > 0


def test_cli_reports_a_missing_edge_list_in_one_line(write_yaml, capsys):
    data = mini_scenario()
    data["dynamics"] = {"word_of_mouth": {"network": {"kind": "edge_list",
                                                      "path": "friends.csv"}}}
    assert main(["validate", str(write_yaml(data))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "edge-list file not found" in err[0] and "friends.csv" in err[0]
