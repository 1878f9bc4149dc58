"""Edge-list customer ids count from 1, zero-padded; an id outside a group's range says the
range instead of guessing a neighbour."""

from __future__ import annotations

import pytest

from agents.errors import ScenarioError
from sim.scenario.edge_list import customer_ids, read_edge_list
from sim.scenario.loader import load_scenario
from tests.conftest import mini_scenario


def _shoppers(write_yaml, tmp_path, edges: str):
    (tmp_path / "friends.csv").write_text(edges)
    data = mini_scenario()
    data["customers"][0].update(group="shoppers", count=400)
    data["dynamics"] = {"word_of_mouth": {"network": {"kind": "edge_list",
                                                      "path": "friends.csv"}}}
    return write_yaml(data)


def test_ids_count_from_one_padded_to_the_count_s_digits(write_yaml, tmp_path):
    scenario = load_scenario(_shoppers(write_yaml, tmp_path, "shoppers-001,shoppers-400\n"))
    ids = customer_ids(scenario)
    assert ids[0] == "shoppers-001" and ids[399] == "shoppers-400"


@pytest.mark.parametrize("bad", ["shoppers-000", "shoppers-401", "shoppers-1"])
def test_an_id_outside_the_group_s_range_says_the_range(write_yaml, tmp_path, bad):
    path = _shoppers(write_yaml, tmp_path, f"shoppers-002 {bad}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: dynamics.word_of_mouth.network.path: ")
    assert message.endswith("line 1: the second id is not a customer of this scenario; "
                            "customer ids of group shoppers run from shoppers-001 "
                            "to shoppers-400 (counted from 1, 3 digits)")
    assert "did you mean" not in message and bad not in message  # the file is not quoted


def test_an_id_of_no_group_states_the_scheme_and_suggests(tmp_path):
    path = tmp_path / "friends.csv"
    path.write_text("buyers-1,byers-2\n")
    with pytest.raises(ScenarioError) as info:
        read_edge_list(path, ["buyers-1", "buyers-2"])
    message = str(info.value)
    assert "ids are <group>-<index>, counted from 1 and zero-padded, e.g. 'buyers-1'" in message
    assert "did you mean 'buyers-2'?" in message
