"""Answers longer than `run.max_stored_answer_chars` are cached cut, with the reading of the
whole answer, so replay makes the same decisions; answers within the limit are kept whole."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pandas as pd
import pytest
import yaml

from agents.backends.cache import CACHE_FORMAT, ResponseCache
from agents.fake_server import FakeOpenAIServer, default_answer
from cli.main import main
from tests.conftest import make_request, mini_scenario

MB = 1_000_000
DECISION_COLUMNS = ["decision_id", "customer_id", "seed", "choice", "choice_number", "valid",
                    "refused", "parse_method", "failure", "outcome", "agency_loss",
                    "finish_reason"]


def choice_at_the_end(body, prompt):
    """A megabyte of explanation, then the choice line (past any cut)."""
    return "Explanation: " + "blah " * (MB // 5) + "\n" + default_answer(body, prompt)


def no_choice(body, prompt):
    """A megabyte that names no product."""
    return "I keep thinking " * (MB // 16)


def scenario_file(tmp_path, url, limit=1000):
    data = mini_scenario(run={"ticks": 1, "seed": 7, "max_stored_answer_chars": limit})
    data["agents"][0].update(backend="openai", model="fake-model",
                             backend_options={"base_urls": [url], "timeout_s": 30.0})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def decisions(run_dir):
    frame = pd.read_parquet(run_dir / "decisions.parquet")
    return frame[[c for c in DECISION_COLUMNS if c in frame.columns]]


def transcripts(run_dir):
    lines = [json.loads(x) for x in (run_dir / "transcripts.jsonl").open()]
    return [(x["decision_id"], x["answer"], x.get("answer_chars"),
             [a[:100] for a in x["earlier_answers"]], x.get("earlier_answer_chars"))
            for x in lines]


def cache_bytes(cache):
    return sum(p.stat().st_size for p in cache.parent.glob(cache.name + "*"))


@pytest.mark.parametrize("answer", [choice_at_the_end, no_choice], ids=["choice", "unparsed"])
def test_a_megabyte_answer_makes_a_small_cache_and_replays_the_same_decisions(tmp_path,
                                                                             answer):
    cache = tmp_path / "answers.sqlite"
    with FakeOpenAIServer(answer=answer) as server:
        path = scenario_file(tmp_path, server.base_url)
        assert main(["run", str(path), "--out", str(tmp_path / "live"), "--quiet",
                     "--cache", str(cache)]) == 0
    live = decisions(tmp_path / "live")
    if answer is choice_at_the_end:  # read from the whole answer, not from the cut text
        assert live.valid.all() and (live.parse_method == "choice_line").all()
    else:
        assert (live.parse_method == "unparsed").all()
    assert cache_bytes(cache) < 12 * MB // 20  # twelve answers of 1 MB, kept cut to 1000
    with sqlite3.connect(cache) as db:
        lengths = db.execute("SELECT length(text), answer_chars FROM responses").fetchall()
    db.close()
    asked = 12 if answer is choice_at_the_end else 24  # an unreadable answer is asked again
    assert len(lengths) == asked and {n for n, _ in lengths} == {1000}
    assert all(full > MB - 100 for _, full in lengths)
    for limit, out in ((1000, "replay"), (100, "shorter")):
        assert main(["run", str(path), "--out", str(tmp_path / out), "--quiet", "--backend",
                     "replay", "--cache", str(cache),
                     "--set", f"run.max_stored_answer_chars={limit}"]) == 0
        pd.testing.assert_frame_equal(decisions(tmp_path / out), live)
    assert transcripts(tmp_path / "replay") == transcripts(tmp_path / "live")
    shorter = transcripts(tmp_path / "shorter")
    assert [(d, a[:100], *rest) for d, a, *rest in transcripts(tmp_path / "live")] == shorter


def test_an_answer_within_the_limit_is_stored_whole_and_replays_as_before(tmp_path):
    cache = tmp_path / "answers.sqlite"
    with FakeOpenAIServer() as server:
        path = scenario_file(tmp_path, server.base_url)
        assert main(["run", str(path), "--out", str(tmp_path / "live"), "--quiet",
                     "--cache", str(cache)]) == 0
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT text, answer_chars, reading FROM responses").fetchall()
    db.close()
    assert len(rows) == 12 and all(n is None and r is None for _, n, r in rows)
    answers = sorted(a for _, a, *_ in transcripts(tmp_path / "live"))
    assert sorted(t for t, _, _ in rows) == answers
    assert main(["run", str(path), "--out", str(tmp_path / "replay"), "--quiet", "--backend",
                 "replay", "--cache", str(cache)]) == 0
    pd.testing.assert_frame_equal(decisions(tmp_path / "replay"), decisions(tmp_path / "live"))
    assert transcripts(tmp_path / "replay") == transcripts(tmp_path / "live")
    assert all(n is None for _, _, n, *_ in transcripts(tmp_path / "replay"))


def test_a_format_4_cache_is_upgraded_in_place_and_its_answers_read(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # format 4: no answer_chars / reading columns
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', '4')")
        db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT, request_id TEXT, "
                   "text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, "
                   "latency_ms REAL, finish_reason TEXT, created_at REAL NOT NULL, "
                   "choice_probs TEXT)")
        db.execute("INSERT INTO responses VALUES ('k', 'm', 'r', 'Choice: 1', 3, 4, 1.0, "
                   "'stop', 0.0, NULL)")
    db.close()
    cache = ResponseCache(path)
    found = cache.get_many(["k"])["k"]
    assert found.text == "Choice: 1" and found.parsed is None and found.answer_chars is None
    from agents.types import Completion

    request = dataclasses.replace(make_request(), max_stored_chars=6)
    cache.put("new", request, "m", Completion(text="Choice: 2 because"))
    stored = cache.get_many(["new"])["new"]
    assert stored.text == "Choice" and stored.answer_chars == len("Choice: 2 because")
    assert stored.parsed.choice == 2 and stored.parsed.method == "choice_line"
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta").fetchone()[0] == str(CACHE_FORMAT)
    db.close()
