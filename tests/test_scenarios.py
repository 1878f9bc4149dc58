"""Every shipped scenario validates and runs with the rational backend."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.loader import load_scenario
from sim.runner import run_scenario
from tests.conftest import SCENARIOS

FILES = sorted(SCENARIOS.glob("*.yaml"))


def test_there_are_scenarios():
    names = {f.name for f in FILES}
    assert {"tin_men.yaml", "online_shopping.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_scenario_validates_and_runs(path, tmp_path):
    scenario = load_scenario(path)
    summary = run_scenario(scenario, tmp_path / "run", backend="rational", progress=False)
    assert summary.status == "completed" and summary.ticks == scenario.run.ticks
    decisions = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    assert len(decisions) == summary.decisions > 0
    assert decisions.valid.all()


def test_tin_men_design_cells():
    scenario = load_scenario(SCENARIOS / "tin_men.yaml")
    assert set(scenario.information.disclosure) == {"customer", "company", "both", "none"}
    assert scenario.run.listing_order == "counterbalanced" and scenario.run.ticks == 1
    assert {g.group: g.count for g in scenario.customers} == {"vehicle": 120, "film": 120}


def test_tin_men_run_has_30_per_cell_and_balanced_order(tmp_path):
    run_scenario(load_scenario(SCENARIOS / "tin_men.yaml"), tmp_path / "run", progress=False)
    d = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    assert set(d.groupby(["customer_group", "disclosure"]).size()) == {30}
    assert set(d.groupby(["customer_group", "disclosure", "listing"]).size()) == {15}


def test_online_shopping_size():
    scenario = load_scenario(SCENARIOS / "online_shopping.yaml")
    assert len(scenario.products) >= 20 and len(scenario.companies) == 3
    assert sum(g.count for g in scenario.customers) >= 500
    assert sum(a.count for a in scenario.agents) == 10 and scenario.run.ticks == 20
    assert len({c.persona for c in scenario.companies}) == 3
