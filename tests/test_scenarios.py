"""Every shipped scenario validates and runs with the rational backend."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.engine.run import run_scenario
from sim.scenario.loader import load_scenario
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


# --------------------------------------------------------------------------- sweep files

SWEEPS = sorted((SCENARIOS / "sweeps").glob("*.yaml"))


def test_there_are_sweeps():
    assert {p.name for p in SWEEPS} >= {"tin_men_disclosure.yaml", "asymmetry_grid.yaml"}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_file_expands_and_every_cell_validates(path):
    from sim.scenario.loader import validate_scenario
    from sim.sweep.spec import expand_cells, load_plan, read_spec

    spec, _ = read_spec(path)
    plan = load_plan(path)  # resolves and validates every cell, or raises one line
    assert len(plan.cells) == len(expand_cells(spec.grid, spec.zip))
    assert len(plan.runs) == len(plan.cells) * spec.replicates
    for run in plan.runs[:: spec.replicates]:
        validate_scenario(plan.scenario_data(run), str(path))


def test_tin_men_disclosure_sweep_has_30_per_case_and_condition(tmp_path):
    from sim.sweep.session import run_sweep
    from sim.sweep.spec import load_plan

    plan = load_plan(SCENARIOS / "sweeps" / "tin_men_disclosure.yaml")
    assert len(plan.cells) == 4 and plan.spec.replicates == 30
    result = run_sweep(plan, tmp_path / "sweep", progress=False)
    assert result.completed == 120 and result.backend_calls == 1 and result.max_batch == 240
    d = pd.read_parquet(tmp_path / "sweep" / "decisions")
    assert set(d.groupby(["customer_group", "disclosure"]).size()) == {30}
    assert d.groupby("run_id", observed=True).disclosure.nunique().max() == 1
    assert d.valid.all()


def test_asymmetry_grid_sweep_runs(tmp_path):
    from sim.sweep.session import run_sweep
    from sim.sweep.spec import load_plan

    path = SCENARIOS / "sweeps" / "asymmetry_grid.yaml"
    assert len(load_plan(path).runs) == 36
    plan = load_plan(path, settings=["run.ticks=1", "run.shoppers_per_tick=20"], replicates=1)
    result = run_sweep(plan, tmp_path / "sweep", progress=False)
    assert result.completed == 9 and result.backend_calls == 1
    d = pd.read_parquet(tmp_path / "sweep" / "decisions")
    cells = d.groupby(["outcome_observability", "monitoring"]).size()
    assert len(cells) == 9 and set(cells) == {20}


def test_design_scenarios_are_shipped_with_sweeps():
    names = {f.name for f in FILES}
    assert {"lemons.yaml", "commission_disclosure.yaml", "tin_men_one_message.yaml"} <= names
    assert {"lemons_revealed.yaml", "commission_disclosure.yaml", "tin_men_layout.yaml"} <= {
        p.name for p in SWEEPS}


def test_tin_men_one_message_is_tin_men_with_one_user_message(tmp_path):
    import json

    one = load_scenario(SCENARIOS / "tin_men_one_message.yaml")
    two = load_scenario(SCENARIOS / "tin_men.yaml")
    assert one.products == two.products and one.customers == two.customers
    assert one.companies == two.companies and one.information == two.information
    run_scenario(one, tmp_path / "one", progress=False)
    first = json.loads((tmp_path / "one" / "transcripts.jsonl").read_text().splitlines()[0])
    (message,) = first["messages"]
    text = message["content"]
    assert message["role"] == "user"
    assert text.index("You are a shopping assistant") < text.index("Products on offer:") \
        < text.index("Customer: ") < text.index("Explanation: <") < text.index("Choice: <")


def test_tin_men_layout_sweep_varies_only_the_prompt(tmp_path):
    from sim.sweep.session import run_sweep
    from sim.sweep.spec import load_plan

    plan = load_plan(SCENARIOS / "sweeps" / "tin_men_layout.yaml",
                     settings=["customers.0.count=2", "customers.1.count=2"], replicates=1)
    assert [c["prompt"] for c in plan.cells] == ["one_message", "default"]
    result = run_sweep(plan, tmp_path / "sweep", progress=False)
    assert result.completed == 2
