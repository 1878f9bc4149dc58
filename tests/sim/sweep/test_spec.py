"""Sweep files and plans: grid expansion, seeds, run ids, one-line errors (pure; nothing runs)."""

from __future__ import annotations

import pytest
import yaml

from agents.errors import ScenarioError
from sim.scenario.loader import validate_scenario
from sim.sweep.spec import (
    SweepSpec,
    derive_seed,
    expand_cells,
    load_plan,
    parse_values,
    plan_from_json,
    plan_sweep,
    sweep_reference,
)
from tests.conftest import REPO, mini_scenario


def write_sweep(tmp_path, spec: dict, scenario: dict | None = None):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(scenario or mini_scenario()))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", **spec}, sort_keys=False))
    return path


# --------------------------------------------------------------------------- expansion


def test_grid_is_a_cartesian_product_first_key_slowest():
    cells = expand_cells({"a": [1, 2], "b": ["x", "y", "z"]}, {})
    assert cells == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"},
                     {"a": 2, "b": "x"}, {"a": 2, "b": "y"}, {"a": 2, "b": "z"}]


def test_zip_pairs_values_and_crosses_the_grid():
    cells = expand_cells({"g": [0, 1]}, {"m": ["small", "large"], "t": [0.2, 0.7]})
    assert cells == [
        {"g": 0, "m": "small", "t": 0.2}, {"g": 0, "m": "large", "t": 0.7},
        {"g": 1, "m": "small", "t": 0.2}, {"g": 1, "m": "large", "t": 0.7},
    ]
    assert expand_cells({}, {"m": ["a", "b"]}) == [{"m": "a"}, {"m": "b"}]


def test_no_grid_is_one_base_cell():
    assert expand_cells({}, {}) == [{}]


def test_plan_is_cells_times_replicates(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"information.monitoring": [0.0, 0.5, 1.0],
                                           "information.disclosure": ["none", "both"]},
                                  "replicates": 4})
    plan = load_plan(path)
    assert len(plan.cells) == 6 and len(plan.runs) == 24
    assert [r.replicate for r in plan.runs[:4]] == [0, 1, 2, 3]
    scenario = validate_scenario(plan.scenario_data(plan.runs[5]), "t")
    assert scenario.information.monitoring == 0.0
    assert scenario.information.disclosure == ("both",)
    assert scenario.run.seed == plan.runs[5].seed


def test_fixed_keys_and_command_line_options(tmp_path):
    path = write_sweep(tmp_path, {"fixed": {"run.ticks": 2},
                                  "grid": {"information.monitoring": [0.0, 1.0]}})
    plan = load_plan(path, grid=["information.outcome_observability=0,0.5,1"],
                     settings=["run.ticks=1"], replicates=3, seed=9, backend="scripted")
    assert len(plan.cells) == 6 and len(plan.runs) == 18 and plan.root_seed == 9
    config = plan.scenario_data(plan.runs[0])
    assert config["run"]["ticks"] == 1 and config["agents"][0]["backend"] == "scripted"
    assert "run.ticks=1" in plan.overrides(plan.runs[0])


def test_a_scenario_file_sweeps_from_the_command_line(tmp_path, write_yaml):
    base = write_yaml(mini_scenario())
    plan = load_plan(base, grid=["information.disclosure=[none],[customer, company]"],
                     zipped=["agents.0.rational.noise=0,0.5", "agents.0.sampling.temperature"
                             "=0.1,0.9"], replicates=2)
    assert plan.name == "mini" and len(plan.cells) == 4 and len(plan.runs) == 8
    assert plan.cells[1] == {"information.disclosure": ["none"],
                             "agents.0.rational.noise": 0.5,
                             "agents.0.sampling.temperature": 0.9}
    assert plan.cells[2]["information.disclosure"] == ["customer", "company"]


# --------------------------------------------------------------------------- seeds and ids


def test_seeds_are_distinct_and_reproducible(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"information.monitoring": [0.0, 0.5, 1.0]},
                                  "replicates": 10, "seed": 5})
    first, again = load_plan(path), load_plan(path)
    seeds = [r.seed for r in first.runs]
    assert len(set(seeds)) == len(seeds) == 30
    assert seeds == [r.seed for r in again.runs]
    assert [r.run_id for r in first.runs] == [r.run_id for r in again.runs]
    assert len({r.run_id for r in first.runs}) == 30
    other = load_plan(path, seed=6)
    assert not set(seeds) & {r.seed for r in other.runs}
    assert first.sweep_id == again.sweep_id != other.sweep_id


def test_seed_derives_from_the_root_through_seed_sequence():
    import numpy as np

    from sim.sweep.spec import cell_key

    cell = {"information.monitoring": 0.5}
    words = np.random.SeedSequence(5, spawn_key=(cell_key(cell), 3)).generate_state(
        2, dtype=np.uint32)
    expected = (int(words[0]) << 32 | int(words[1])) & (2**53 - 1)
    assert derive_seed(5, cell, 3) == expected
    assert derive_seed(5, cell, 3, "replicate") == derive_seed(5, {"other": 1}, 3, "replicate")


def test_adding_values_and_replicates_keeps_existing_runs(tmp_path):
    small = write_sweep(tmp_path, {"grid": {"information.monitoring": [0.0, 1.0]},
                                   "replicates": 2})
    before = {r.run_id: r.seed for r in load_plan(small).runs}
    after = {r.run_id: r.seed for r in load_plan(
        small, grid=["information.monitoring=0.0,0.5,1.0"], replicates=3).runs}
    assert len(after) == 9 and before.items() <= after.items()


def test_replicate_scope_shares_seeds_across_cells(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"information.monitoring": [0.0, 1.0]},
                                  "replicates": 3, "seed_scope": "replicate"})
    plan = load_plan(path)
    by_cell = [[r.seed for r in plan.runs if r.cell_index == c] for c in (0, 1)]
    assert by_cell[0] == by_cell[1] and len(set(by_cell[0])) == 3
    assert len({r.run_id for r in plan.runs}) == 6


def test_default_root_seed_is_the_base_scenarios(tmp_path):
    assert load_plan(write_sweep(tmp_path, {})).root_seed == 7


def test_plan_round_trips_through_sweep_json(tmp_path):
    plan = load_plan(write_sweep(tmp_path, {"grid": {"information.monitoring": [0.0, 1.0]},
                                            "replicates": 2}))
    again = plan_from_json(plan.to_json())
    assert again.sweep_id == plan.sweep_id and again.runs == plan.runs


# --------------------------------------------------------------------------- errors


def one_line_error(callable_, *args, **kwargs) -> str:
    with pytest.raises(ScenarioError) as info:
        callable_(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_grid_key_names_the_sweep_file_and_the_key(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"information.monitorng": [0.1, 0.2]}})
    message = one_line_error(load_plan, path)
    assert str(path) in message and "information.monitorng" in message
    assert "did you mean 'monitoring'?" in message


def test_bad_grid_value_names_the_cell(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"information.monitoring": [0.5, 2.0]}})
    message = one_line_error(load_plan, path)
    assert str(path) in message and "information.monitoring=2.0" in message
    assert "less than or equal to 1" in message


def test_list_index_out_of_range_is_one_line(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"agents.3.backend": ["scripted"]}})
    message = one_line_error(load_plan, path)
    assert "agents.3.backend" in message and "--set" not in message


@pytest.mark.parametrize(("spec", "expected"), [
    ({"gird": {}}, "unknown key 'gird'"),
    ({"replicates": 0}, "replicates: Input should be greater than or equal to 1"),
    ({"zip": {"a.b": [1, 2], "c.d": [1]}}, "zipped lists must have the same length"),
    ({"grid": {"run.seed": [1, 2]}}, "'run.seed' cannot be swept"),
    ({"grid": {"information.monitoring": [0.5, 0.5]}}, "listed twice"),
    ({"grid": {"information.monitoring": []}}, "needs at least one value"),
    ({"fixed": {"information.monitoring": 0.1},
      "grid": {"information.monitoring": [0.2]}}, "also in fixed"),
    ({"fixed": {"information": {"monitoring": 0.1}},
      "grid": {"information.monitoring": [0.2]}}, "overlaps fixed.information"),
    ({"grid": {"bad key": [1]}}, "is not a dotted key"),
])
def test_bad_sweep_files_give_one_line(tmp_path, spec, expected):
    message = one_line_error(load_plan, write_sweep(tmp_path, spec))
    assert expected in message and "sweep.yaml" in message


def test_unknown_sweep_key_suggests_a_fix(tmp_path):
    message = one_line_error(load_plan, write_sweep(tmp_path, {"replicate": 3}))
    assert "did you mean 'replicates'?" in message


def test_missing_base_file_is_one_line(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("base: nowhere.yaml\n")
    assert "nowhere.yaml: file not found" in one_line_error(load_plan, path)


def test_command_line_values_must_parse():
    assert parse_values("a.b=1, 2.5,x", "--grid") == ("a.b", [1, 2.5, "x"])
    message = one_line_error(parse_values, "a.b", "--grid")
    assert "--grid 'a.b': expected dotted.key=value1,value2" in message
    assert "cannot read the values" in one_line_error(parse_values, "a=[1", "--zip")


def test_backend_flag_conflicting_with_a_swept_backend_is_refused(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"agents.0.backend": ["rational", "scripted"]}})
    message = one_line_error(load_plan, path, backend="scripted")
    assert "agents.0.backend" in message and "set each key in one place" in message


def test_identical_cells_are_refused(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"information.disclosure": ["none", ["none"]]},
                                  "seed_scope": "replicate"})
    assert "resolve to the same scenario" in one_line_error(load_plan, path)


def test_plan_sweep_validates_every_cell_before_running():
    spec = SweepSpec(base="b.yaml", grid={"information.monitoring": [0.1, 0.2, 3.0]})
    message = one_line_error(plan_sweep, spec, mini_scenario(), source="s.yaml",
                             base_file="b.yaml")
    assert message.startswith("s.yaml: cell information.monitoring=3.0: information.monitoring")


def test_readme_sweep_reference_is_current():
    from sim.sweep.spec import SWEEP_BEGIN, SWEEP_END

    readme = (REPO / "README.md").read_text()
    between = readme.split(SWEEP_BEGIN, 1)[1].split(SWEEP_END, 1)[0]
    assert between.strip() == sweep_reference().strip(), "run: tinmen sweep --reference"
