"""The probability columns of the decision table: expectations over every option, settled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from agents.backends.scripted import ScriptedBackend
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import mini_scenario


def run(tmp_path, noise, **backends):
    data = mini_scenario()
    for agent in data["agents"]:
        agent.setdefault("rational", {})["noise"] = noise
    s = validate_scenario(data, "test")
    run_scenario(s, tmp_path / f"run{noise}", progress=False, **backends)
    return pd.read_parquet(tmp_path / f"run{noise}" / "decisions.parquet")


def test_certain_choices_make_the_expected_columns_equal_the_sampled_ones(tmp_path):
    table = run(tmp_path, 0.0)
    assert table.choice_prob_mass.eq(1.0).all()
    assert (table.expected_override == table.override.astype(float)).all()
    assert np.allclose(table.expected_agency_loss, table.agency_loss)
    assert np.allclose(table.p_customer_best, 1 - table.expected_override)


def test_noisy_choices_give_expectations_near_the_sampled_means(tmp_path):
    table = run(tmp_path, 0.3)
    sums = table.choice_probs.map(sum)
    assert np.allclose(sums, 1.0)
    assert table.expected_override.between(0, 1).all()
    assert table.expected_override.between(0.01, 0.99).any()
    assert abs(table.expected_override.mean() - table.override.mean()) < 0.15
    assert abs(table.expected_agency_loss.mean() - table.agency_loss.mean()) < 0.15


def test_backends_without_probabilities_leave_the_columns_null(tmp_path):
    backend = ScriptedBackend()
    data = mini_scenario()
    s = validate_scenario(data, "test")
    names = {a["id"] for a in data["agents"]}
    run_scenario(s, tmp_path / "scripted", progress=False,
                 backends={name: backend for name in names})
    table = pd.read_parquet(tmp_path / "scripted" / "decisions.parquet")
    assert table.choice_probs.isna().all() and table.expected_override.isna().all()
    assert table.choice_probs_kind.isna().all()
