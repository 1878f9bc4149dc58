"""The recorder's transcript encoding: fast path and general path give the same JSON."""

from __future__ import annotations

import json

from sim.engine.recorder import RunRecorder


def test_fast_transcript_line_matches_json(tmp_path):
    recorder = RunRecorder(tmp_path / "run")
    record = {"tick": 3, "decision_id": "t3-1", "agent_id": 'a"b',
              "messages": [{"role": "system", "content": "S \u00e9"},
                           {"role": "user", "content": 'he said "hi"\n\x01'}],
              "answer": None, "failure": "backend: x\ty", "finish_reason": "length",
              "earlier_answers": ["first \"try\"", None]}
    line = recorder._transcript_line(record)
    ref = recorder._prompts.ref("S \u00e9")
    assert json.loads(line) == {**record, "messages": [{"role": "system", "ref": ref},
                                                       record["messages"][1]]}


def test_unusual_records_take_the_general_path(tmp_path):
    recorder = RunRecorder(tmp_path / "run")
    record = {"tick": 1, "note": "extra key", "messages": [{"role": "system", "content": "S"}]}
    decoded = json.loads(recorder._transcript_line(record))
    assert decoded["note"] == "extra key" and decoded["messages"][0]["ref"].startswith("p")


def test_engine_records_take_the_fast_path(tmp_path, monkeypatch):
    from sim.engine.recorder import SharedPrompts
    from sim.engine.run import run_scenario
    from sim.scenario.loader import validate_scenario
    from tests.conftest import mini_scenario

    def slow_path_used(self, message):
        raise AssertionError("an engine transcript record fell back to json.dumps")

    monkeypatch.setattr(SharedPrompts, "compact", slow_path_used)
    run_scenario(validate_scenario(mini_scenario(), "t"), tmp_path / "run", progress=False)
