"""Word of mouth over a network: a three-node path graph by hand, graphs, edge-list files."""

from __future__ import annotations

import numpy as np
import pytest

from agents.errors import ScenarioError
from sim.scenario.loader import load_scenario
from sim.scenario.schema import EdgeList, RandomGraph, ScaleFree, SmallWorld
from sim.world.network import WordOfMouth, adjacency_from_edges, build_adjacency, read_edge_list
from tests.conftest import mini_scenario


def path_graph(weight: float, delay: int) -> WordOfMouth:
    """0 - 1 - 2, one company."""
    return WordOfMouth(adjacency_from_edges(np.array([0, 1]), np.array([1, 2]), 3), 1,
                       weight, delay)


def tell(wom: WordOfMouth, tick: int, customers: list[int], signals: list[float]) -> None:
    wom.tell(tick, np.array(customers), np.zeros(len(customers), dtype=np.int64),
             np.array(signals))


def test_path_graph_one_hop_after_the_delay():
    wom = path_graph(weight=0.5, delay=1)
    trust = np.full((3, 1), 0.5)
    tell(wom, 1, [0], [1.0])                   # customer 0 had a perfect experience in tick 1
    assert wom.deliver(1, trust) == 0 and trust[:, 0].tolist() == [0.5, 0.5, 0.5]
    assert wom.deliver(2, trust) == 1          # heard by its only neighbour, 1, a tick later
    assert trust[:, 0].tolist() == [0.5, 0.75, 0.5]  # 0.5 + 0.5 (1 - 0.5); 2 is two hops away
    assert wom.deliver(3, trust) == 0          # a report is heard once


def test_path_graph_middle_node_hears_the_mean_of_both_ends():
    wom = path_graph(weight=0.5, delay=0)
    trust = np.array([[0.2], [0.6], [0.9]])
    tell(wom, 4, [0, 2], [1.0, 0.0])
    assert wom.deliver(4, trust) == 1          # delay 0: the same tick; one listener
    # node 1 hears (1 + 0) / 2; nodes 0 and 2 each hear nothing (their neighbour 1 said nothing)
    assert trust[:, 0] == pytest.approx([0.2, 0.6 + 0.5 * (0.5 - 0.6), 0.9])


def test_middle_node_reaches_both_ends_but_never_itself():
    wom = path_graph(weight=0.25, delay=2)
    trust = np.full((3, 1), 0.8)
    tell(wom, 1, [1], [0.0])
    wom.deliver(2, trust)
    assert trust[:, 0].tolist() == [0.8, 0.8, 0.8]
    wom.deliver(3, trust)
    assert trust[:, 0] == pytest.approx([0.6, 0.8, 0.6])  # 0.8 + 0.25 (0 - 0.8)


def test_unobserved_experiences_are_not_reported():
    wom = path_graph(weight=1.0, delay=0)
    trust = np.full((3, 1), 0.5)
    tell(wom, 1, [0], [np.nan])
    assert wom.deliver(1, trust) == 0 and trust[:, 0].tolist() == [0.5, 0.5, 0.5]


def test_reports_are_per_company():
    wom = WordOfMouth(adjacency_from_edges(np.array([0]), np.array([1]), 2), 2, 1.0, 0)
    trust = np.full((2, 2), 0.5)
    wom.tell(1, np.array([0]), np.array([1]), np.array([0.0]))
    wom.deliver(1, trust)
    assert trust.tolist() == [[0.5, 0.5], [0.5, 0.0]]


def test_adjacency_is_symmetric_binary_without_self_loops():
    a = adjacency_from_edges(np.array([0, 1, 2, 2]), np.array([1, 0, 2, 1]), 3).toarray()
    assert a.tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("spec, mean_degree", [
    (SmallWorld(kind="small_world", degree=6, rewire=0.1), 6.0),
    (ScaleFree(kind="scale_free", degree=4), 4.0),
    (RandomGraph(kind="random", degree=5.0), 5.0),
])
def test_generated_graphs_have_the_requested_degree(spec, mean_degree):
    ids = [f"c-{i}" for i in range(2000)]
    a = build_adjacency(spec, ids, seed=3)
    assert a.shape == (2000, 2000) and (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    assert a.sum() / 2000 == pytest.approx(mean_degree, rel=0.1)
    assert (build_adjacency(spec, ids, seed=3) != a).nnz == 0  # seeded


def test_edge_list_file(tmp_path):
    path = tmp_path / "friends.csv"
    path.write_text("# who knows whom\na-1,a-2\n\na-2   a-3\n")
    assert [x.tolist() for x in read_edge_list(path, ["a-1", "a-2", "a-3"])] == [[0, 1], [1, 2]]
    a = build_adjacency(EdgeList.model_construct(kind="edge_list", path=str(path)),
                        ["a-1", "a-2", "a-3"], seed=0)
    assert a.toarray().tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("text, expected", [
    ("a-1,a-9\n", "line 1: unknown customer id 'a-9'"),
    ("a-1\n", "line 1: expected two customer ids"),
    ("a-1,a-2\na-1,a-2,a-3\n", "line 2: expected two customer ids"),
])
def test_edge_list_errors_name_the_file_and_line(tmp_path, text, expected):
    path = tmp_path / "friends.csv"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        read_edge_list(path, ["a-1", "a-2", "a-3"])
    assert str(info.value).startswith(str(path)) and expected in str(info.value)


def dynamics_with_network(network):
    data = mini_scenario()
    data["dynamics"] = {"word_of_mouth": {"network": network}}
    return data


def test_edge_list_path_is_relative_to_the_scenario_file(tmp_path, write_yaml):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "friends.txt").write_text("buyers-01 buyers-02\n")
    path = write_yaml(dynamics_with_network({"kind": "edge_list", "path": "nets/friends.txt"}))
    scenario = load_scenario(path)
    assert scenario.dynamics.word_of_mouth.network.path == str(tmp_path / "nets/friends.txt")


def test_missing_edge_list_is_one_line(write_yaml):
    path = write_yaml(dynamics_with_network({"kind": "edge_list", "path": "nope.csv"}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    assert "dynamics.word_of_mouth.network.path: edge-list file not found" in message
    assert "nope.csv" in message


def test_edge_list_with_unknown_customer_fails_at_load(tmp_path, write_yaml):
    (tmp_path / "friends.csv").write_text("buyers-01,buyers-13\n")
    path = write_yaml(dynamics_with_network({"kind": "edge_list", "path": "friends.csv"}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: dynamics.word_of_mouth.network.path: ")
    assert "unknown customer id 'buyers-13'" in message and "\n" not in message


def test_unknown_graph_kind_suggests_a_close_one(write_yaml):
    path = write_yaml(dynamics_with_network({"kind": "smallworld"}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "dynamics.word_of_mouth.network: unknown graph kind 'smallworld'" in message
    assert "did you mean 'small_world'?" in message


def test_bad_graph_parameter_names_the_dotted_key(write_yaml):
    path = write_yaml(dynamics_with_network({"kind": "small_world", "rewire": 2}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "dynamics.word_of_mouth.network.rewire: " in str(info.value)


def test_degree_must_be_below_the_number_of_customers(write_yaml):
    path = write_yaml(dynamics_with_network({"kind": "small_world", "degree": 12}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "dynamics.word_of_mouth.network.degree: degree 12 needs more customers" in str(
        info.value)


def test_network_without_kind_says_so(write_yaml):
    path = write_yaml(dynamics_with_network({"degree": 4}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "dynamics.word_of_mouth.network: missing 'kind'; add kind: small_world" in str(
        info.value)
