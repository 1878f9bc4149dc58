"""YAML alias bombs are refused at load in bounded time and memory; merge keys work."""

from __future__ import annotations

import time
import tracemalloc

import pytest
import yaml

from agents.errors import ScenarioError
from cli.main import main
from sim.scenario.loader import load_scenario, read_yaml
from tests.conftest import mini_scenario


def alias_bomb(levels: int, width: int) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nschema_version: 1\nname: bomb\nproducts: *a{levels}\n"


@pytest.mark.parametrize("size", [9, 10])
def test_alias_bomb_refused_in_bounded_time_and_memory(tmp_path, capsys, size):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(size, size))
    assert path.stat().st_size < 2000
    tracemalloc.start()
    started = time.process_time()
    try:
        code = main(["validate", str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    cpu = time.process_time() - started
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "expands to more than 1000000 values" in err and len(err) < 400
    # A correct refusal once cost 35 s and 3 GB; the bound here is generous, not a timing test.
    assert peak < 20 * 2**20 and cpu < 10


def test_recursive_alias_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &x [1, *x]\n")
    with pytest.raises(ScenarioError, match="expands to more than"):
        read_yaml(path)


def test_modest_aliases_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("x: &x [1, 2]\ny: [*x, *x]\n")
    assert read_yaml(path) == {"x": [1, 2], "y": [[1, 2], [1, 2]]}


def test_merge_keys_are_accepted_and_own_keys_win(tmp_path):
    data = mini_scenario()
    path = tmp_path / "merge.yaml"
    path.write_text(
        "schema_version: 1\nname: merge\n"
        "products:\n"
        "- &ev {id: ev, name: Tesla Model 3, price: 40000, attributes: {electric: true}, "
        "margins: {oil: 1000}}\n"
        "- {<<: *ev, id: suv, name: Ford Explorer, price: 50000, "
        "attributes: {electric: false}}\n"
        + yaml.safe_dump({k: data[k] for k in ("companies", "customers", "agents")}))
    scenario = load_scenario(path)
    suv = scenario.products[1]
    assert (suv.id, suv.price, suv.margins) == ("suv", 50000, {"oil": 1000})


def test_key_twice_still_refused_next_to_a_merge(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("base: &b {a: 1}\nx: {<<: *b, c: 1, c: 2}\n")
    with pytest.raises(ScenarioError, match="'c' appears twice"):
        read_yaml(path)


def test_error_on_huge_value_never_renders_it(write_yaml, capsys):
    data = mini_scenario()
    data["run"] = {"ticks": ["x" * 1000] * 1000}
    path = write_yaml(data)
    assert main(["validate", str(path)]) == 2
    assert len(capsys.readouterr().err) < 400


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_special_files_are_not_read_as_scenarios(tmp_path, special):
    import os

    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)
    with pytest.raises(ScenarioError, match="is not a regular file"):
        read_yaml(special)
