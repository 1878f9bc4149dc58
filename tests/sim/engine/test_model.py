"""The tick loop: one backend call per tick, determinism, balance, and nothing lost."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from agents.backends.scripted import ScriptedBackend
from agents.rational import RationalBackend
from analysis.transcripts import load_transcripts
from sim.engine.model import MarketModel
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import mini_scenario


def scenario(**changes):
    return validate_scenario(mini_scenario(**changes), "test")


def decisions(run_dir) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "decisions.parquet")


def test_exactly_one_backend_call_per_tick(tmp_path):
    data = mini_scenario()
    data["agents"] = [{"id": "a", "company": "oil", "count": 3},
                      {"id": "b", "company": "oil", "count": 2}]
    backend = ScriptedBackend()
    s = validate_scenario(data, "test")
    run_scenario(s, tmp_path / "run", backends={"a": backend, "b": backend}, progress=False)
    assert backend.calls == [12, 12, 12]  # 3 ticks, one call each with every request


def test_one_call_per_distinct_backend(tmp_path):
    data = mini_scenario()
    data["agents"] = [{"id": "a", "company": "oil"}, {"id": "b", "company": "oil"}]
    first, second = ScriptedBackend(), ScriptedBackend()
    run_scenario(validate_scenario(data, "t"), tmp_path / "run",
                 backends={"a": first, "b": second}, progress=False)
    assert first.calls == [6, 6, 6] and second.calls == [6, 6, 6]


def test_same_seed_same_decisions_different_seed_differs(tmp_path):
    data = mini_scenario(run={"ticks": 2, "seed": 1, "shoppers_per_tick": 8,
                              "listing_order": "shuffled"})
    data["customers"][0]["budget"] = {"dist": "lognormal", "median": 50000, "sigma": 0.2}
    data["agents"][0]["rational"] = {"noise": 0.5}
    frames = []
    for i, seed in enumerate([1, 1, 2]):
        data["run"]["seed"] = seed
        run_scenario(validate_scenario(data, "t"), tmp_path / f"r{i}", progress=False)
        frames.append(decisions(tmp_path / f"r{i}").drop(columns=["latency_ms"]))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert not frames[0].equals(frames[2])


def test_disclosure_rotation_and_counterbalanced_listing_are_balanced(tmp_path):
    s = scenario(run={"ticks": 1, "seed": 3, "listing_order": "counterbalanced"},
                 information={"disclosure": ["customer", "company", "both", "none"]},
                 customers=[{"group": "g", "count": 16, "budget": 60000}])
    run_scenario(s, tmp_path / "run", progress=False)
    cells = decisions(tmp_path / "run").groupby(["disclosure", "listing"]).size()
    assert len(cells) == 8 and set(cells) == {2}


def test_disclosure_reaches_the_prompt_and_the_record(tmp_path):
    s = scenario(information={"disclosure": "company"})
    run_scenario(s, tmp_path / "run", progress=False)
    first = load_transcripts(tmp_path / "run")[0]
    assert "will be shared with Petro Corp" in first["messages"][1]["content"]
    assert set(decisions(tmp_path / "run").disclosure) == {"company"}


def test_unreadable_and_failed_answers_are_recorded_not_lost(tmp_path):
    backend = ScriptedBackend(answers=["Choice: 2", "blah blah", None, "Choice: none"])
    run_scenario(scenario(run={"ticks": 1, "seed": 1}), tmp_path / "run",
                 backends={"bot": backend}, progress=False)
    d = decisions(tmp_path / "run")
    assert len(d) == 12
    assert d.outcome.value_counts().to_dict() == {"purchased": 3, "invalid": 3, "failed": 3,
                                                  "refused": 3}
    failed = d[d.outcome == "failed"]
    assert failed.failure.str.startswith("backend: ").all() and not failed.valid.any()
    invalid = d[d.outcome == "invalid"]
    assert invalid.failure.str.startswith("unparsed: ").all() and invalid.override.isna().all()
    assert d[d.outcome == "refused"].valid.all()
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert ticks.loc[0, ["invalid", "failed", "refused"]].tolist() == [3, 3, 3]


class ExplodingBackend(ScriptedBackend):
    def generate(self, requests):
        raise ConnectionError("server went away")


def test_backend_exception_fails_the_batch_but_not_the_run(tmp_path):
    summary = run_scenario(scenario(), tmp_path / "run", backends={"bot": ExplodingBackend()},
                           progress=False)
    d = decisions(tmp_path / "run")
    assert summary.status == "completed" and len(d) == 36
    assert (d.failure == "backend: backend error: ConnectionError: server went away").all()


def test_capacity_limits_count_unserved(tmp_path):
    data = mini_scenario()
    data["agents"][0]["customers_per_tick"] = 5
    run_scenario(validate_scenario(data, "t"), tmp_path / "run", progress=False)
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert ticks.decisions.tolist() == [5, 5, 5] and ticks.unserved.tolist() == [7, 7, 7]


def test_lockstep_split_gives_the_same_tick(tmp_path):
    s = scenario()
    whole = MarketModel(s, {"bot": RationalBackend()})
    whole.step()
    split = MarketModel(s, {"bot": RationalBackend()})
    requests = split.prepare_next_tick()
    split.step(RationalBackend().generate(requests))
    assert split.steps == whole.steps == 1
    left = whole.last_result.decisions.drop_columns(["latency_ms"])
    right = split.last_result.decisions.drop_columns(["latency_ms"])
    assert left.equals(right)


def test_manifest_records_what_ran(tmp_path):
    run_scenario(scenario(), tmp_path / "run", source="mini.yaml", progress=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["ticks_completed"] == 3
    assert manifest["root_seed"] == 7 and len(manifest["scenario_hash"]) == 64
    assert manifest["backends"] == [{"name": "rational", "model": "rational-baseline",
                                     "agents": ["bot"], "settings": {}}]
    assert manifest["backend_usage"][0]["requests"] == 36
    assert manifest["versions"]["mesa"].startswith("3.")
    assert manifest["config"]["name"] == "mini"


def test_refuses_to_overwrite_a_run(tmp_path):
    from agents.errors import RunDirectoryError

    run_scenario(scenario(), tmp_path / "run", progress=False)
    with pytest.raises(RunDirectoryError):
        run_scenario(scenario(), tmp_path / "run", progress=False)
    (tmp_path / "run" / "report.md").write_text("old report")
    (tmp_path / "run" / "figures").mkdir()
    run_scenario(scenario(), tmp_path / "run", overwrite=True, progress=False)
    assert len(decisions(tmp_path / "run")) == 36
    assert not (tmp_path / "run" / "report.md").exists()
    assert not (tmp_path / "run" / "figures").exists()


def test_transcripts_store_each_system_prompt_once_and_resolve_in_full(tmp_path):
    data = mini_scenario()
    data["agents"] = [{"id": "a", "company": "oil", "count": 2}]
    run_scenario(validate_scenario(data, "t"), tmp_path / "run", progress=False)
    raw = [json.loads(line) for line in (tmp_path / "run" / "transcripts.jsonl").open()]
    prompts = (tmp_path / "run" / "prompts.jsonl").read_text().splitlines()
    assert len(raw) == 36 and len(prompts) == 1  # one listing order, one company, one persona
    assert raw[0]["messages"][0] == {"role": "system", "ref": json.loads(prompts[0])["ref"]}
    full = load_transcripts(tmp_path / "run")
    assert full[0]["messages"][0]["content"].startswith("You are a shopping assistant")
    assert full[0]["messages"][1]["content"].startswith("Customer: ")
    assert [r["decision_id"] for r in full] == [r["decision_id"] for r in raw]


def test_ticks_record_prefix_share(tmp_path):
    run_scenario(scenario(), tmp_path / "run", progress=False)
    share = pd.read_csv(tmp_path / "run" / "ticks.csv").prefix_share
    assert ((share > 0.5) & (share < 1)).all()


def test_unserved_shoppers_do_not_depend_on_file_order(tmp_path):
    data = mini_scenario(run={"ticks": 1, "seed": 4})
    data["customers"] = [{"group": "first", "count": 50, "budget": 60000},
                         {"group": "last", "count": 50, "budget": 60000}]
    data["agents"][0]["customers_per_tick"] = 40
    run_scenario(validate_scenario(data, "t"), tmp_path / "run", progress=False)
    served = decisions(tmp_path / "run").customer_group.value_counts()
    assert served.sum() == 40 and served.get("last", 0) >= 10  # both groups get served
