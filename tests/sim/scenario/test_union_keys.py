"""Unknown keys inside a discriminated union (network kinds, budget distributions) list the
keys of the member the tag picked, and name the tag that takes a key of another member."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents.errors import ScenarioError
from sim.scenario.error_keys import allowed_keys
from sim.scenario.loader import load_scenario
from tests.conftest import REPO, SCENARIOS, mini_scenario

NETWORK = "dynamics.word_of_mouth.network"


def _error(path, overrides) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    return str(info.value)


def test_a_key_of_another_network_kind_names_that_kind():
    message = _error(SCENARIOS / "market_dynamics.yaml", [f"{NETWORK}.path=x"])
    assert message.endswith(
        f"{NETWORK}.path: unknown key 'path' for kind: small_world; allowed keys: kind, "
        f"degree, rewire; path is a key of kind: edge_list; set {NETWORK}.kind=edge_list")


def test_an_unknown_network_key_lists_the_kind_s_keys_through_validate():
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "validate", str(SCENARIOS / "market_dynamics.yaml"),
         "--set", f"{NETWORK}.wiring=2"], cwd=REPO, text=True, capture_output=True,
        timeout=120)
    assert proc.returncode != 0
    assert (f"{NETWORK}.wiring: unknown key 'wiring' for kind: small_world; allowed keys: "
            "kind, degree, rewire") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unknown_distribution_key_names_the_distribution_that_takes_it(write_yaml):
    data = mini_scenario()
    data["customers"][0]["budget"] = {"dist": "uniform", "low": 1, "high": 2, "sigma": 1}
    message = _error(write_yaml(data), [])
    assert ("customers.0.budget.sigma: unknown key 'sigma' for dist: uniform; allowed keys: "
            "dist, low, high; sigma is a key of dist: lognormal; set "
            "customers.0.budget.dist=lognormal") in message


def test_allowed_keys_follow_each_union_tag():
    base = ("dynamics", "word_of_mouth", "network")
    assert allowed_keys((*base, "edge_list")) == ["kind", "path"]
    assert allowed_keys((*base, "scale_free")) == ["kind", "degree"]
    assert allowed_keys(("customers", 0, "budget", "lognormal"))[0] == "dist"
    assert allowed_keys(("run",))[:2] == ["ticks", "seed"]
