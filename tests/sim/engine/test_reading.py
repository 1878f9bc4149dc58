"""Deferred answers through settlement and records; the reading mix in ticks.csv and the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents.backends.scripted import ScriptedBackend
from sim.engine.reading import PROSE_WARNING_SHARE, reading_lines, reading_mix
from sim.engine.records import READ_COLUMNS, TICK_COLUMNS
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from sim.world.market import settle
from tests.conftest import mini_scenario

HAND_BACK = ("Both fit your budget: you can select either [Choice: 1] or [Choice: 2]. "
             "Please let me know your preference.")


def test_settlement_of_a_deferred_answer_buys_nothing_and_measures_no_decision():
    utility = np.array([[1.0, 0.5]])
    out = settle(customer=np.array([0, 0]), company=np.array([0, 0]), choice=np.array([-1, -1]),
                 readable=np.array([True, False]), failed=np.array([False, False]),
                 deferred=np.array([False, True]), customer_utility=utility,
                 company_utility=np.array([[0.0, 2.0]]), listed=np.array([[True, True]]),
                 prices=np.array([1.0, 1.0]), budgets=np.array([5.0]))
    refused, deferred = 0, 1
    assert out.outcome.tolist() == ["refused", "deferred"]
    assert not out.purchased[deferred] and out.customer_utility[deferred] == 0.0
    # a refusal is an override that loses the attainable utility; a deferral is neither
    assert out.override[refused] == 1.0 and out.agency_loss[refused] == 1.0
    assert np.isnan([out.override[deferred], out.sided_with_company[deferred],
                     out.agency_loss[deferred], out.company_gain[deferred]]).all()


def test_deferred_answers_are_valid_records_with_their_own_outcome(tmp_path):
    backend = ScriptedBackend(answers=["Choice: 2", HAND_BACK, "Ford Explorer is here.",
                                       "Choice: none"])
    scenario = validate_scenario(mini_scenario(run={"ticks": 1, "seed": 1}), "test")
    summary = run_scenario(scenario, tmp_path / "run", backends={"bot": backend},
                           progress=False)
    d = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    deferred = d[d.parse_method == "deferred"]
    assert len(deferred) == 3
    assert (deferred.outcome == "deferred").all() and deferred.valid.all()
    assert not deferred.purchased.any() and not deferred.refused.any()
    assert deferred.override.isna().all() and deferred.agency_loss.isna().all()
    assert deferred.failure.isna().all()
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert list(ticks.columns) == list(TICK_COLUMNS)
    row = ticks.loc[0]
    assert row["deferred"] == 3 and row["valid"] == 9 and row["invalid"] == 3
    assert row[list(READ_COLUMNS)].sum() == 12
    assert (row["read_choice_line"], row["read_refusal"], row["read_unparsed"]) == (3, 3, 3)
    lines = "\n".join(summary.lines())
    assert "deferred 33.3%" in lines  # 3 of 9 valid answers
    assert "answers read by: choice_line 3, refusal 3, deferred 3, unparsed 3" in lines
    assert "warning" not in lines


def test_summary_warns_when_prose_readings_exceed_a_fifth():
    methods = ["choice_line"] * 7 + ["prose_name"] * 2 + ["prose_id"] + ["failed"] * 5
    mix = reading_mix(methods)
    assert mix["prose"] == 3 and mix["failed"] == 5
    lines = reading_lines(mix)
    assert lines[0] == "answers read by: choice_line 7, prose 3"
    assert lines[1].startswith("warning: 30.0% of answers were read from prose")
    at_limit = reading_mix(["choice_line"] * 8 + ["prose_name"] * 2)
    assert 2 / 10 == PROSE_WARNING_SHARE and len(reading_lines(at_limit)) == 1
    assert reading_lines(reading_mix(["failed"])) == []


def test_tick_agency_loss_is_over_valid_decisions_and_the_unread_bound_is_separate(tmp_path):
    backend = ScriptedBackend(answers=["Choice: 2", HAND_BACK, "Ford Explorer is here.",
                                       "Choice: none"])
    scenario = validate_scenario(mini_scenario(run={"ticks": 1, "seed": 1}), "test")
    run_scenario(scenario, tmp_path / "run", backends={"bot": backend}, progress=False)
    d = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    row = pd.read_csv(tmp_path / "run" / "ticks.csv").loc[0]
    headline = d.loc[d.valid & (d.parse_method != "deferred"), "agency_loss"]
    unread = d.loc[d.parse_method == "unparsed", "agency_loss"]
    assert len(headline) == 6 and headline.notna().all() and (unread > 0).all()
    assert row["mean_agency_loss"] == pytest.approx(headline.mean(), abs=1e-6)
    # unparsed answers buy nothing and lose the attainable utility; deferred stay out
    assert row["mean_agency_loss_unread_as_outside"] == pytest.approx(
        d["agency_loss"].mean(), abs=1e-6)
    assert row["mean_agency_loss_unread_as_outside"] > row["mean_agency_loss"]
