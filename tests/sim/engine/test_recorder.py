"""The recorder's transcripts: any answer text comes back exactly; engine records stay fast."""

from __future__ import annotations

from agents.backends.scripted import ScriptedBackend
from analysis.transcripts import load_transcripts
from sim.engine.recorder import SharedPrompts
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import mini_scenario

ODD_ANSWERS = ['he said "hi"\n\x01 Choice: 1', "back\\slash\ttab \u00e9 \u2603 Choice: 2", None]


def test_transcripts_keep_any_text_exactly(tmp_path):
    run_scenario(validate_scenario(mini_scenario(), "t"), tmp_path / "run", progress=False,
                 backends={"bot": ScriptedBackend(answers=ODD_ANSWERS)})
    records = load_transcripts(tmp_path / "run")
    assert len(records) > len(ODD_ANSWERS)
    for i, record in enumerate(records):
        assert record["answer"] == ODD_ANSWERS[i % len(ODD_ANSWERS)]
        assert record["failure"] == (None if record["answer"] is not None
                                     else "scripted failure")
        assert [m["role"] for m in record["messages"]] == ["system", "user"]
        assert all(isinstance(m["content"], str) and m["content"] for m in record["messages"])


def test_engine_records_take_the_fast_path(tmp_path, monkeypatch):
    def slow_path_used(self, message):
        raise AssertionError("an engine transcript record fell back to json.dumps")

    monkeypatch.setattr(SharedPrompts, "compact", slow_path_used)
    run_scenario(validate_scenario(mini_scenario(), "t"), tmp_path / "run", progress=False)
