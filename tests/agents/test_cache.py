"""The response cache and replay: reuse, keys, interruption, concurrency, one-line errors."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pandas as pd
import pytest

from agents.backends.cache import (
    CachedBackend,
    KeyRecipe,
    ReplayBackend,
    ResponseCache,
    count_answers,
)
from agents.backends.overrides import BackendOverrides
from agents.backends.scripted import ScriptedBackend
from agents.errors import BackendCreationError, FatalBackendError
from agents.fake_server import FakeOpenAIServer
from agents.types import Completion, SamplingParams
from cli.main import main
from sim.engine.run import run_scenario
from tests.agents.test_openai_backend import decisions, llm_scenario, ticks
from tests.conftest import REPO, make_request, mini_scenario

ANSWER_COLUMNS = ["decision_id", "customer_id", "seed", "choice", "valid", "failure",
                  "outcome", "agency_loss", "prompt_tokens", "completion_tokens", "reasks"]


def run(scenario, out, cache, **kwargs):
    return run_scenario(scenario, out, backend_flags=BackendOverrides.create(cache=cache),
                        progress=False, **kwargs)


def test_second_run_makes_no_requests_and_gives_identical_decisions(tmp_path):
    cache = tmp_path / "cache.sqlite"
    with FakeOpenAIServer() as s:
        scenario = llm_scenario([s.base_url], ticks=2)
        run(scenario, tmp_path / "first", cache)
        first_requests = len(s.arrivals)
        s.reset()
        run(scenario, tmp_path / "second", cache)
        assert len(s.arrivals) == 0
    assert first_requests == 24 and count_answers(cache) == 24
    a, b = decisions(tmp_path / "first"), decisions(tmp_path / "second")
    pd.testing.assert_frame_equal(a[ANSWER_COLUMNS], b[ANSWER_COLUMNS])
    assert not a.cached.any() and b.cached.all() and (b.attempts == 0).all()
    assert ticks(tmp_path / "second").cache_hits.tolist() == [12, 12]
    assert ticks(tmp_path / "first").cache_hits.tolist() == [0, 0]


def test_rerunning_an_interrupted_run_only_asks_what_is_missing(tmp_path):
    cache = tmp_path / "cache.sqlite"
    with FakeOpenAIServer() as s:
        run(llm_scenario([s.base_url], ticks=2), tmp_path / "cut", cache)  # "stopped" at 2
        s.reset()
        run(llm_scenario([s.base_url], ticks=3), tmp_path / "full", cache)
        assert len(s.arrivals) == 12  # only tick 3 reached the server
    t = ticks(tmp_path / "full")
    assert t.cache_hits.tolist() == [12, 12, 0] and t.requests.tolist() == [0, 0, 12]


class InterruptedStreamer(ScriptedBackend):
    """Streams answers one by one, then is interrupted half way through the batch."""

    cacheable = True

    def generate_streaming(self, requests, on_result):
        for i, request in enumerate(requests):
            if i == len(requests) // 2:
                raise KeyboardInterrupt
            on_result(i, Completion(text=self._answer(request)))
        raise AssertionError("unreachable")


def test_answers_that_arrived_before_an_interruption_are_kept(tmp_path):
    requests = [make_request(seed=i) for i in range(10)]
    recipe = KeyRecipe("m")
    cached = CachedBackend(InterruptedStreamer(), ResponseCache(tmp_path / "c.sqlite"), recipe)
    with pytest.raises(KeyboardInterrupt):
        cached.generate(requests)
    cached.close()
    inner = ScriptedBackend()
    again = CachedBackend(inner, ResponseCache(tmp_path / "c.sqlite"), recipe)
    answers = again.generate(requests)
    assert inner.calls == [5]  # the five answered before the interruption were reused
    assert [a.cached for a in answers] == [True] * 5 + [False] * 5
    again.close()


def test_failures_are_asked_again_by_a_rerun_and_reproduced_by_replay(tmp_path):
    requests = [make_request(seed=i) for i in range(4)]
    recipe = KeyRecipe("m")
    first = CachedBackend(ScriptedBackend(answers=["Choice: 1", None]),
                          ResponseCache(tmp_path / "c.sqlite"), recipe)
    assert [a.failure for a in first.generate(requests)] == [None, "scripted failure"] * 2
    first.close()
    replay = ReplayBackend("m", cache=tmp_path / "c.sqlite")
    replayed = replay.generate(requests)
    assert [a.failure for a in replayed] == [None, "scripted failure"] * 2
    assert all(a.cached for a in replayed)
    replay.close()
    inner = ScriptedBackend()
    second = CachedBackend(inner, ResponseCache(tmp_path / "c.sqlite"), recipe)
    assert [a.failure for a in second.generate(requests)] == [None] * 4
    assert inner.calls == [2]  # only the two failures were asked again
    second.close()
    replay = ReplayBackend("m", cache=tmp_path / "c.sqlite")
    assert [a.failure for a in replay.generate(requests)] == [None] * 4  # answers win
    replay.close()


def test_replay_reproduces_a_run_with_failures(tmp_path):
    cache = tmp_path / "cache.sqlite"
    doomed: set[int] = set()

    def fault(body, index):
        if len(doomed) < 2:
            doomed.add(body["seed"])
        return "503" if body["seed"] in doomed else None

    with FakeOpenAIServer(fault=fault) as s:
        run(llm_scenario([s.base_url], max_retries=0), tmp_path / "live", cache)
    with FakeOpenAIServer() as s:
        run(llm_scenario([s.base_url], max_retries=0), tmp_path / "replayed", cache,
            backend="replay")
        assert len(s.arrivals) == 0
    a, b = decisions(tmp_path / "live"), decisions(tmp_path / "replayed")
    assert (a.outcome == "failed").sum() == 2
    pd.testing.assert_frame_equal(a[ANSWER_COLUMNS], b[ANSWER_COLUMNS])


def test_fresh_asks_again_and_replaces_the_stored_answers(tmp_path):
    request = make_request(seed=3)
    recipe = KeyRecipe("m")
    for answer in ("Choice: 1", "Choice: 2"):
        backend = CachedBackend(ScriptedBackend(answers=[answer]),
                                ResponseCache(tmp_path / "c.sqlite"), recipe, fresh=True)
        assert backend.generate([request])[0].text == answer
        backend.close()
    store = ResponseCache(tmp_path / "c.sqlite")
    assert store.get_many([recipe.key(request)])[recipe.key(request)].text == "Choice: 2"
    store.close()


def test_the_key_covers_what_decides_an_answer_and_nothing_else():
    base = make_request(seed=5)
    recipe = KeyRecipe("m")
    key = recipe.key(base)
    assert recipe.key(dataclasses.replace(base, request_id="t9-9")) == key
    assert recipe.key(dataclasses.replace(base, model="other")) == key  # backend's model rules
    changed = [
        dataclasses.replace(base, seed=6),
        dataclasses.replace(base, replicate=1),
        dataclasses.replace(base, sampling=SamplingParams(temperature=0.1)),
        dataclasses.replace(base, sampling=SamplingParams(top_p=0.9)),
        dataclasses.replace(base, sampling=SamplingParams(max_tokens=10)),
        make_request(seed=5, user="I need a bike."),
    ]
    assert all(recipe.key(r) != key for r in changed)
    others = [KeyRecipe("m2"), KeyRecipe("m", revision="abc"), KeyRecipe("m", None, "choice"),
              KeyRecipe("m", None, "json", 600), KeyRecipe("m", None, "json", 100),
              KeyRecipe("m", None, "json", 600, server="openai"),
              KeyRecipe("m", api="completions"),
              KeyRecipe("m", api="completions", tokenizer="other-tokenizer")]
    keys = {r.key(base) for r in others}
    assert len(keys) == len(others) and key not in keys


def test_replay_answers_only_from_the_cache(tmp_path):
    cache = tmp_path / "cache.sqlite"
    with FakeOpenAIServer() as s:
        run(llm_scenario([s.base_url], ticks=2), tmp_path / "live", cache)
        s.reset()
        run(llm_scenario([s.base_url], ticks=2), tmp_path / "replayed", cache, backend="replay")
        assert len(s.arrivals) == 0
    a, b = decisions(tmp_path / "live"), decisions(tmp_path / "replayed")
    pd.testing.assert_frame_equal(a[ANSWER_COLUMNS], b[ANSWER_COLUMNS])
    assert set(b.backend) == {"replay"} and set(b.model) == {"fake-model"}


def test_replay_with_a_missing_answer_fails_in_one_line_exit_2(tmp_path, write_yaml, capsys):
    cache = tmp_path / "cache.sqlite"
    with FakeOpenAIServer() as s:
        data = mini_scenario(run={"ticks": 1, "seed": 7})
        data["agents"][0].update(backend="openai", model="fake-model",
                                 backend_options={"base_urls": [s.base_url]})
        path = write_yaml(data)
        assert main(["run", str(path), "--out", str(tmp_path / "live"), "--quiet",
                     "--cache", str(cache)]) == 0
    code = main(["run", str(path), "--out", str(tmp_path / "replay"), "--backend", "replay",
                 "--cache", str(cache), "--set", "run.ticks=2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "replay: no answer in" in err and "for request t2-0 " in err
    manifest = (tmp_path / "replay" / "manifest.json").read_text()
    assert '"status": "failed"' in manifest and '"ticks_completed": 1' in manifest


def test_replay_needs_an_existing_cache_file(tmp_path, write_yaml, capsys):
    path = write_yaml(mini_scenario())
    code = main(["run", str(path), "--backend", "replay", "--model", "m", "--out",
                 str(tmp_path / "o"), "--cache", str(tmp_path / "none.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    assert main(["run", str(path), "--backend", "replay", "--model", "m", "--out",
                 str(tmp_path / "o")]) == 2
    assert "give --cache PATH" in capsys.readouterr().err


def test_replay_backend_names_the_first_missing_request(tmp_path):
    store = ResponseCache(tmp_path / "c.sqlite")
    replay = ReplayBackend("m", cache=store)
    with pytest.raises(FatalBackendError, match=r"for request t1-4 \(model 'm', seed 4"):
        replay.generate([make_request(seed=4)])
    replay.close()


def test_cache_flags_are_checked(tmp_path, write_yaml, capsys):
    path = write_yaml(mini_scenario())
    assert main(["run", str(path), "--fresh", "--out", str(tmp_path / "a")]) == 2
    assert "--fresh" in capsys.readouterr().err
    assert main(["run", str(path), "--cache", str(tmp_path / "c.sqlite"),
                 "--out", str(tmp_path / "b")]) == 2
    assert "nothing to cache" in capsys.readouterr().err


def test_a_file_that_is_not_a_cache_is_refused(tmp_path):
    bogus = tmp_path / "notes.sqlite"
    bogus.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(BackendCreationError, match="not a usable tinmen response cache"):
        ResponseCache(bogus)


WRITER = """
import sys
from agents.backends.cache import KeyRecipe, ResponseCache
from agents.types import Completion
from tests.conftest import make_request
store = ResponseCache(sys.argv[1])
recipe = KeyRecipe("m")
for i in range(int(sys.argv[2]), int(sys.argv[2]) + 300):
    r = make_request(seed=i)
    store.put(recipe.key(r), r, "m", Completion(text=f"Choice: {1 + i % 3}"))
    if i % 50 == 0:
        store.flush()
store.close()
"""


def test_concurrent_writers_share_one_file(tmp_path):
    cache = tmp_path / "shared.sqlite"
    ResponseCache(cache).close()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(cache), str(start)],
                                cwd=REPO, stderr=subprocess.PIPE, text=True)
               for start in (0, 200, 400)]  # overlapping ranges write the same keys
    for w in writers:
        assert w.wait(60) == 0, w.stderr.read()
    assert count_answers(cache) == 700


def test_a_cache_of_an_earlier_format_is_refused_in_one_line(tmp_path):
    import sqlite3

    from agents.backends.cache import CACHE_FORMAT

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # format 3: no choice_probs column
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', '3')")
    db.close()
    with pytest.raises(BackendCreationError) as error:
        ResponseCache(path)
    message = str(error.value)
    assert "\n" not in message and CACHE_FORMAT == 5
    assert "another cache format (3)" in message and "reads format 5" in message
