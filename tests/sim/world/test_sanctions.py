"""Monitoring and sanctions: audits, violations, warnings in the prompt, replaced agents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from agents.backends.scripted import ScriptedBackend
from agents.errors import ScenarioError
from analysis.transcripts import load_transcripts
from sim.engine.run import run_scenario
from sim.scenario.loader import load_scenario, validate_scenario
from sim.scenario.schema import Sanctions
from sim.world.sanctions import SanctionDesk, draw_audits, find_violations
from tests.conftest import mini_scenario


def test_violations_by_hand():
    # products: 0 allowed (company utility 1), 1 forbidden (utility -5), 2 allowed (utility 3)
    forbidden = np.array([[False, True, False]])
    audited = np.array([True, True, True, True, False, True])
    violations = find_violations(
        audited=audited,
        readable=np.array([True, True, True, True, True, False]),
        purchased=np.array([True, True, True, False, True, False]),
        choice=np.array([2, 1, 0, -1, 0, -1]),
        company=np.zeros(6, dtype=np.int64),
        forbidden=forbidden,
        realised_company_utility=np.array([3.0, -5.0, 1.0, 0.0, 1.0, 0.0]),
        best_company_utility=np.full(6, 3.0),
        has_feasible=np.ones(6, dtype=bool),
    )
    assert violations.label.tolist() == [None, "forbidden", "not_company_best",
                                         "not_company_best", None, None]
    assert violations.forbidden.tolist() == [False, True, False, False, False, False]
    assert violations.below_best.tolist() == [False, True, True, True, False, False]


def test_refusing_is_no_violation_when_every_product_hurts_the_company():
    v = find_violations(audited=np.array([True]), readable=np.array([True]),
                        purchased=np.array([False]), choice=np.array([-1]),
                        company=np.array([0]), forbidden=np.array([[False]]),
                        realised_company_utility=np.array([0.0]),
                        best_company_utility=np.array([-2.0]), has_feasible=np.array([True]))
    assert v.label.tolist() == [None]


def test_audit_share_follows_monitoring():
    uniforms = np.random.default_rng(0).random(10000)
    assert draw_audits(uniforms, 0.0).sum() == 0 and draw_audits(uniforms, 1.0).all()
    assert draw_audits(uniforms, 0.3).mean() == pytest.approx(0.3, abs=0.02)


class FakeAgent:
    def __init__(self, name: str) -> None:
        self.name, self.generation, self.warnings = name, 1, []

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def replace(self) -> None:
        self.warnings, self.generation = [], self.generation + 1


def test_desk_warns_once_per_agent_and_escalates():
    desk = SanctionDesk(Sanctions(response="warning", replace_after=2,
                                  warning="{company}: {count} bad ({details})"), ["shop"],
                        ["The Shop"])
    a, b = FakeAgent("a"), FakeAgent("b")
    agents = [a, a, b, a]
    sanctioned = np.array([True, True, False, True])
    details = ["bought X", "bought Y", "", "bought Z"]
    ids = ["t1-0", "t1-1", "t1-2", "t1-3"]
    company = np.zeros(4, dtype=np.int64)
    rows = desk.apply(1, agents, sanctioned, details, ids, company)
    assert rows == [{"tick": 1, "agent_id": "a", "company": "shop", "agent_generation": 1,
                     "violations": 3, "decision_ids": "t1-0|t1-1|t1-3", "response": "warning",
                     "warnings": 1}]
    assert a.warnings == ["The Shop: 3 bad (bought X; bought Y; bought Z)"] and b.warnings == []
    desk.apply(2, agents, sanctioned, details, ids, company)
    rows = desk.apply(3, agents, sanctioned, details, ids, company)
    assert rows[0]["response"] == "replace" and rows[0]["agent_generation"] == 1
    assert a.generation == 2 and a.warnings == []


def test_warning_details_are_capped():
    desk = SanctionDesk(Sanctions(warning="{details}"), ["shop"])
    assert desk.warning_text("shop", ["a", "b", "c", "d", "e"]) == "a; b; c; and 2 more"


def test_response_none_and_company_filter():
    v = find_violations(audited=np.ones(2, bool), readable=np.ones(2, bool),
                        purchased=np.ones(2, bool), choice=np.array([0, 0]),
                        company=np.array([0, 1]), forbidden=np.zeros((2, 1), bool),
                        realised_company_utility=np.zeros(2),
                        best_company_utility=np.ones(2), has_feasible=np.ones(2, bool))
    companies = np.array([0, 1])
    assert SanctionDesk(Sanctions(response="none"), ["x", "y"]).sanctioned(
        v, companies).tolist() == [False, False]
    assert SanctionDesk(Sanctions(companies=("y",)), ["x", "y"]).sanctioned(
        v, companies).tolist() == [False, True]
    assert SanctionDesk(Sanctions(triggers=("forbidden",)), ["x", "y"]).sanctioned(
        v, companies).tolist() == [False, False]


# ------------------------------------------------------------------ in a running market

WARNED = "Warning from"


def heeds_warnings(request) -> str:
    """Buys the customer's favourite (the EV) until warned, then the company's (the SUV)."""
    names = request.context.option_names
    warned = WARNED in request.messages[0]["content"]
    number = names.index("Ford Explorer" if warned else "Tesla Model 3") + 1
    return f"Explanation: scripted.\nChoice: {number}"


def always_ev(request) -> str:
    return f"Choice: {request.context.option_names.index('Tesla Model 3') + 1}"


def sanctioned_market(monitoring: float, sanctions: dict[str, Any] | None, ticks: int = 3
                      ) -> dict[str, Any]:
    data = mini_scenario(run={"ticks": ticks, "seed": 2},
                         information={"monitoring": monitoring})
    data["dynamics"] = {"switching": None}
    if sanctions is not None:
        data["dynamics"]["sanctions"] = sanctions
    return data


def run(tmp_path, data, script) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list]:
    run_scenario(validate_scenario(data, "t"), tmp_path / "run",
                 backends={"bot": ScriptedBackend(script=script)}, progress=False)
    out = tmp_path / "run"
    transcripts = load_transcripts(out)
    return (pd.read_parquet(out / "decisions.parquet"), pd.read_csv(out / "ticks.csv"),
            pd.read_csv(out / "sanctions.csv"), transcripts)


def test_warning_changes_the_prompt_from_the_next_tick_and_the_agent_complies(tmp_path):
    d, ticks, log, transcripts = run(tmp_path, sanctioned_market(1.0, {"response": "warning"}),
                                     heeds_warnings)
    assert d.audited.all()
    assert ticks.violations.tolist() == [12, 0, 0] and ticks.sanctions.tolist() == [1, 0, 0]
    assert d[d.tick == 1].violation.eq("not_company_best").all() and d[d.tick == 1].sanctioned.all()
    assert d[d.tick > 1].violation.isna().all() and not d[d.tick > 1].sanctioned.any()
    assert log.to_dict("records") == [{
        "tick": 1, "agent_id": "bot", "company": "oil", "agent_generation": 1, "violations": 12,
        "decision_ids": "|".join(f"t1-{i}" for i in range(12)), "response": "warning",
        "warnings": 1}]
    systems = {t["tick"]: t["messages"][0]["content"] for t in transcripts}
    assert WARNED not in systems[1]
    assert "Warning from Petro Corp: an audit of your recent purchases found 12 decision(s)" \
        in systems[2]
    assert "bought Tesla Model 3 instead of Ford Explorer" in systems[2]


def test_replacement_resets_the_persona_and_counts_generations(tmp_path):
    d, ticks, log, transcripts = run(
        tmp_path, sanctioned_market(1.0, {"response": "replace"}, ticks=3), always_ev)
    assert log.response.tolist() == ["replace"] * 3 and log.agent_generation.tolist() == [1, 2, 3]
    assert d.groupby("tick").agent_generation.unique().map(list).tolist() == [[1], [2], [3]]
    assert not any(WARNED in t["messages"][0]["content"] for t in transcripts)


def test_warnings_escalate_to_replacement(tmp_path):
    _, _, log, transcripts = run(
        tmp_path, sanctioned_market(1.0, {"response": "warning", "replace_after": 2}, ticks=4),
        always_ev)
    assert log.response.tolist() == ["warning", "warning", "replace", "warning"]
    assert log.warnings.tolist() == [1, 2, 0, 1]
    warnings_in_prompt = {t["tick"]: t["messages"][0]["content"].count(WARNED)
                          for t in transcripts}
    assert warnings_in_prompt == {1: 0, 2: 1, 3: 2, 4: 0}


def test_without_monitoring_nothing_is_audited_or_sanctioned(tmp_path):
    d, ticks, log, _ = run(tmp_path, sanctioned_market(0.0, {"response": "warning"}), always_ev)
    assert not d.audited.any() and d.violation.isna().all() and len(log) == 0
    assert ticks.audited.sum() == 0 and ticks.violations.sum() == 0


def test_partial_monitoring_audits_its_share(tmp_path):
    data = sanctioned_market(0.25, None, ticks=10)
    data["customers"][0]["count"] = 200
    d, ticks, log, _ = run(tmp_path, data, always_ev)
    assert d.audited.mean() == pytest.approx(0.25, abs=0.03)
    assert (d.violation.notna() == d.audited).all()  # every EV purchase is below the best
    assert len(log) == 0 and not d.sanctioned.any()  # no sanctions section: only recorded


def test_forbidden_purchase_is_labelled_and_triggers(tmp_path):
    data = sanctioned_market(1.0, {"response": "warning", "triggers": ["forbidden"]}, ticks=2)
    data["companies"][0]["utility"]["forbidden"] = ["ev"]
    d, _, log, transcripts = run(tmp_path, data, always_ev)
    assert d.violation.eq("forbidden").all() and len(log) == 2
    assert "bought Tesla Model 3, which Petro Corp's policy forbids" in \
        transcripts[-1]["messages"][0]["content"]


def test_bad_sanctions_settings_are_one_line_errors(write_yaml):
    data = sanctioned_market(1.0, {"response": "warn"})
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_yaml(data))
    assert "dynamics.sanctions.response" in str(info.value)
    assert "did you mean 'warning'?" in str(info.value)
    data = sanctioned_market(1.0, {"warning": "fix {things}"})
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_yaml(data))
    assert "dynamics.sanctions.warning: unknown placeholder {things}" in str(info.value)
    data = sanctioned_market(1.0, {"companies": ["oli"]})
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_yaml(data))
    assert "dynamics.sanctions.companies.0: unknown company 'oli'" in str(info.value)
