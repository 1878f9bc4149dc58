"""Decisions with an identical prompt and consecutive seeds share one request with `n` samples.

The fake server follows vLLM's seed rule (sample i of seed s is seed s + i), so a grouped
request must give every decision exactly the answer, seed, token counts and cache entry of
its own request.
"""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from agents.backends.openai_server import OpenAIBackend
from agents.backends.options import BackendOptions
from agents.backends.overrides import BackendOverrides
from agents.backends.request_groups import Job, plan_jobs
from agents.errors import BackendCreationError
from agents.fake_server import FakeOpenAIServer, default_answer, prompt_text
from agents.lean_fake_server import answer_body
from sim.engine.run import run_scenario
from sim.engine.seeds import consecutive_seeds
from sim.scenario.loader import validate_scenario
from tests.conftest import make_request, mini_scenario


def tick_requests():
    """Ten decisions on one prompt (seeds 100-109, listed out of order), two on another
    (seeds 7 and 9: not consecutive), one alone."""
    same = [make_request(seed=100 + k, request_id=f"a{k}") for k in (3, 0, 1, 2, 4, 5, 6, 7,
                                                                     8, 9)]
    other = [make_request(seed=s, user="I need a van.", request_id=f"b{s}") for s in (7, 9)]
    return same[:4] + other[:1] + same[4:] + other[1:] + [
        make_request(seed=50, user="Anything cheap.", request_id="c")]


def backend_for(url, tiny_lm=None, **options):
    options = {"base_urls": (url,), "backoff_s": 0.01, **options}
    if tiny_lm is not None:
        options.update(api="completions", tokenizer=str(tiny_lm))
    return OpenAIBackend("m", options=BackendOptions(**options))


def table(answers):
    return [(a.text, a.prompt_tokens, a.completion_tokens, a.failure, a.attempts)
            for a in answers]


def answered(requests, samples, tiny_lm=None, **server):
    with FakeOpenAIServer(**server) as s:
        backend = backend_for(s.base_url, tiny_lm, samples_per_request=samples)
        answers = backend.generate(requests)
        backend.close()
        return answers, [a.body for a in s.arrivals]


def test_samples_of_one_chat_request_are_the_answers_of_per_decision_requests():
    requests = tick_requests()
    single, single_bodies = answered(requests, 1)
    grouped, bodies = answered(requests, 4)
    assert len(single_bodies) == 13 and {b["n"] for b in single_bodies} == {1}
    assert sorted((b["seed"], b["n"]) for b in bodies) == [
        (7, 1), (9, 1), (50, 1), (100, 4), (104, 4), (108, 2)]
    assert all(b["return_token_ids"] for b in bodies if b["n"] > 1)
    assert table(grouped) == table(single)
    expected = [default_answer({"seed": r.seed}, prompt_text({"messages": r.messages}))
                for r in requests]
    assert [a.text for a in grouped] == expected and len(set(expected)) > 1
    assert all(a.prompt_tokens and a.completion_tokens for a in grouped)


def test_samples_and_prompt_lists_combine_and_match_per_decision_requests(tiny_lm):
    requests = tick_requests()
    single, _ = answered(requests, 1, tiny_lm)
    grouped, bodies = answered(requests, 10, tiny_lm)
    assert sorted((len(b["prompt"]), b["n"], b["seed"]) for b in bodies) == [
        (1, 1, 7), (1, 1, 9), (1, 1, 50), (1, 10, 100)]
    assert table(grouped) == table(single)


def test_choices_are_matched_by_index_when_they_come_back_reordered(tiny_lm):
    requests = tick_requests()
    single, _ = answered(requests, 1)
    grouped, _ = answered(requests, 8, reverse_choices=True)
    assert table(grouped) == table(single)
    lists, _ = answered(requests, 8, tiny_lm, reverse_choices=True)
    assert table(lists) == table(answered(requests, 1, tiny_lm)[0])


def test_a_fault_in_one_sampled_request_retries_it_alone_and_fails_only_its_decisions():
    requests = tick_requests()

    def fault(body, index):
        return "503" if body["seed"] == 104 else None

    answers, bodies = answered(requests, 4, fault=fault)
    seeds = sorted(b["seed"] for b in bodies)
    assert seeds == [7, 9, 50, 100, 104, 104, 104, 104, 104, 104, 108]  # 1 + 5 retries
    failed = sorted(r.seed for r, a in zip(requests, answers, strict=True) if a.failure)
    assert failed == [104, 105, 106, 107]
    assert {a.failure for a in answers if a.failure} == {
        "gave up after 6 attempts: HTTP 503: fault 503"}
    single, _ = answered(requests, 1)
    assert [t for t, a in zip(table(answers), answers, strict=True) if not a.failure] == [
        t for t, r in zip(table(single), requests, strict=True) if not 104 <= r.seed <= 107]


def test_only_identical_prompts_with_consecutive_distinct_seeds_share_a_request():
    same = [make_request(seed=s) for s in (5, 6, 6, 7, 9)]
    jobs = plan_jobs(same, lists=False, prompts_per_request=32, samples_per_request=8,
                     constraint_key=lambda r: None)
    assert jobs == [Job((0, 1), 2), Job((2, 3), 2), Job((4,), 1)]  # 6 twice: two runs
    hot = [make_request(seed=5), make_request(seed=6, temperature=0.2)]
    assert len(plan_jobs(hot, lists=True, prompts_per_request=32, samples_per_request=8,
                         constraint_key=lambda r: None)) == 2


def test_shared_samples_with_a_hosted_server_are_refused_in_one_line():
    with pytest.raises(BackendCreationError) as caught:
        backend_for("http://127.0.0.1:9/v1", samples_per_request=8, server="openai")
    message = str(caught.value)
    assert "\n" not in message and "samples_per_request: 8" in message
    assert "--samples-per-request 1" in message
    with FakeOpenAIServer() as s:  # 1, the default, is what a hosted server gets
        backend = backend_for(s.base_url, server="openai")
        backend.generate([make_request(seed=s) for s in range(4)])
        backend.close()
        assert [a.body["n"] for a in s.arrivals] == [1, 1, 1, 1]


def test_lean_server_follows_the_same_seed_rule():
    body = {"messages": [{"role": "user", "content": "1: a\n2: b\n3: c"}], "seed": 40}
    singles = [answer_body(b"/v1/chat/completions", {**body, "seed": 40 + i})
               for i in range(5)]
    grouped = answer_body(b"/v1/chat/completions", {**body, "n": 5, "return_token_ids": True})
    assert [c["message"]["content"] for c in grouped["choices"]] == [
        s["choices"][0]["message"]["content"] for s in singles]
    assert [len(c["token_ids"]) for c in grouped["choices"]] == [
        s["usage"]["completion_tokens"] for s in singles]
    lists = answer_body(b"/v1/completions", {"prompt": ["x 1: a 2: b", "y 1: a 2: b"],
                                             "seed": 3, "n": 2})
    assert [c["index"] for c in lists["choices"]] == [0, 1, 2, 3]
    assert lists["choices"][3]["text"] == answer_body(
        b"/v1/completions", {"prompt": "y 1: a 2: b", "seed": 4})["choices"][0]["text"]


def test_identical_prompts_get_consecutive_seeds_from_the_first_ones_draw():
    requests = [make_request(seed=s, user=u) for s, u in
                [(900, "a"), (30, "b"), (5, "a"), (2**31 - 2, "c"), (1, "c"), (8, "a")]]
    out = consecutive_seeds(requests, ["bot"] * 6)
    assert [r.seed for r in out] == [900, 30, 901, 2**31 - 3, 2**31 - 2, 902]
    again = consecutive_seeds(requests, ["bot"] * 6)  # a pure function of the draws
    assert [r.seed for r in again] == [r.seed for r in out]
    assert [r.messages for r in out] == [r.messages for r in requests]
    apart = consecutive_seeds(requests, ["x", "y", "x", "x", "y", "y"])
    assert [r.seed for r in apart] == [900, 30, 901, 2**31 - 2, 1, 8]


def run_records(tmp_path, samples, name):
    data = mini_scenario(run={"ticks": 2, "seed": 7})
    with FakeOpenAIServer() as s:
        data["agents"][0].update(
            backend="openai", model="fake-model",
            backend_options={"samples_per_request": samples, "backoff_s": 0.01,
                             "base_urls": [s.base_url]})
        cache = tmp_path / f"{name}.sqlite"
        run_scenario(validate_scenario(data, "t"), tmp_path / name,
                     backend_flags=BackendOverrides.create(cache=cache), progress=False)
        sent = len(s.arrivals)
    ticks = pd.read_csv(tmp_path / name / "ticks.csv")
    assert ticks.requests.sum() == sent  # HTTP requests, not decisions
    assert (ticks.scoring_requests == 0).all() and ticks.scoring_s.isna().all()
    d = pd.read_parquet(tmp_path / name / "decisions.parquet")
    rows = d[["tick", "customer_id", "seed", "choice", "choice_number", "prompt_tokens",
              "completion_tokens", "valid", "attempts"]].sort_values(["tick", "customer_id"])
    with sqlite3.connect(cache) as db:
        entries = sorted(db.execute(
            "SELECT key, text, prompt_tokens, completion_tokens FROM responses").fetchall())
    return rows.reset_index(drop=True), entries, sent


def test_a_run_with_shared_samples_records_the_same_decisions_and_cache(tmp_path):
    rows, entries, sent = run_records(tmp_path, 1, "single")
    grouped_rows, grouped_entries, grouped_sent = run_records(tmp_path, 64, "grouped")
    pd.testing.assert_frame_equal(rows, grouped_rows)
    assert entries and entries == grouped_entries
    assert sent == 24 and grouped_sent < sent
    assert rows.seed.nunique() == len(rows)
