"""The openai backend against real HTTP servers on 127.0.0.1 (agents.fake_server).

A tick's requests must be in flight together; faults must be retried; spent retries must
become recorded failures; no decision may go missing; replicas share the load.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from agents.backends.openai_server import LeastOutstandingRouter, OpenAIBackend
from agents.backends.options import BackendOptions
from agents.backends.overrides import BackendOverrides
from agents.errors import BackendCreationError
from agents.fake_server import FakeOpenAIServer, prompt_text
from cli.main import main
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import make_request, mini_scenario


def llm_scenario(urls, ticks=1, **options):
    data = mini_scenario(run={"ticks": ticks, "seed": 7})
    data["agents"][0].update(
        backend="openai", model="fake-model",
        backend_options={"base_urls": list(urls), "backoff_s": 0.01, "timeout_s": 5.0,
                         **options})
    return validate_scenario(data, "test")


def decisions(run_dir) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "decisions.parquet")


def ticks(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "ticks.csv")


@pytest.fixture
def server():
    with FakeOpenAIServer(latency_s=0.3) as s:
        yield s


def test_a_ticks_requests_are_in_flight_together(server, tmp_path):
    run_scenario(llm_scenario([server.base_url], ticks=2), tmp_path / "run", progress=False)
    calls = server.requests_to("chat/completions")
    assert len(calls) == 24
    for tick in (calls[:12], calls[12:]):
        # every request of the tick arrived before the first one was answered
        assert max(a.arrived for a in tick) < min(a.finished for a in tick)
    assert server.max_in_flight == 12
    d = decisions(tmp_path / "run")
    assert len(d) == 24 and d.valid.all() and (d.attempts == 1).all()
    # each request carried its own decision's seed and sampling settings
    assert sorted(a.body["seed"] for a in calls) == sorted(d.seed.tolist())
    assert {a.body["temperature"] for a in calls} == {0.7}
    assert {a.body["max_completion_tokens"] for a in calls} == {256}
    t = ticks(tmp_path / "run")
    assert t.requests.tolist() == [12, 12] and (t.requests_per_s > 0).all()
    assert (t.prompt_tokens_per_s > 0).all() and (t.completion_tokens_per_s > 0).all()
    assert (d.prompt_tokens > 0).all() and (d.latency_ms > 0).all()


def test_max_concurrency_caps_requests_in_flight(tmp_path):
    with FakeOpenAIServer(latency_s=0.05) as server:
        run_scenario(llm_scenario([server.base_url], max_concurrency=3), tmp_path / "run",
                     progress=False)
    assert server.max_in_flight == 3
    assert len(decisions(tmp_path / "run")) == 12


def test_every_fault_kind_is_retried(tmp_path):
    faults = {0: "429:0.3", 1: "500", 2: "drop", 3: "broken", 4: "nochoices", 5: "slow:1",
              6: "503"}
    with FakeOpenAIServer(fault=lambda body, i: faults.get(i)) as s:
        run_scenario(llm_scenario([s.base_url], timeout_s=0.5), tmp_path / "run",
                     progress=False)
        calls = s.requests_to("chat/completions")
    d = decisions(tmp_path / "run")
    assert len(d) == 12 and d.valid.all() and d.failure.isna().all()
    assert d.retries.sum() == 7 and d.attempts.sum() == 19 and len(calls) == 19
    assert ticks(tmp_path / "run").retries.tolist() == [7]
    # the rate-limited request came back no sooner than its retry-after
    limited = calls[0]
    again = next(a for a in calls[1:] if a.body == limited.body)
    assert again.arrived - limited.arrived >= 0.3


def test_spent_retries_become_recorded_failures_and_no_row_is_missing(tmp_path):
    doomed: set[int] = set()

    def fault(body, index):
        if len(doomed) < 3:  # the first three decisions to arrive always fail
            doomed.add(body["seed"])
        return "500" if body["seed"] in doomed else None

    with FakeOpenAIServer(fault=fault) as s:
        run_scenario(llm_scenario([s.base_url], max_retries=2), tmp_path / "run",
                     progress=False)
    d = decisions(tmp_path / "run")
    assert len(d) == 12  # nothing lost
    failed = d[d.outcome == "failed"]
    assert sorted(failed.seed) == sorted(doomed) and len(failed) == 3
    assert (failed.failure == "backend: gave up after 3 attempts: HTTP 500: fault 500").all()
    assert (failed.attempts == 3).all() and (failed.retries == 2).all()
    assert not failed.valid.any() and d[d.outcome != "failed"].valid.all()
    t = ticks(tmp_path / "run")
    assert t.failed.tolist() == [3] and t.retries.tolist() == [6]


def test_client_errors_are_not_retried(tmp_path):
    with FakeOpenAIServer(fault=lambda body, i: "400") as s:
        run_scenario(llm_scenario([s.base_url]), tmp_path / "run", progress=False)
        assert len(s.arrivals) == 12
    d = decisions(tmp_path / "run")
    assert (d.failure == "backend: HTTP 400: fault 400").all() and (d.attempts == 1).all()


def test_replicas_share_by_least_outstanding_requests(tmp_path):
    with FakeOpenAIServer(latency_s=0.4) as slow, FakeOpenAIServer(latency_s=0.0) as fast:
        run_scenario(llm_scenario([slow.base_url, fast.base_url], ticks=2, max_concurrency=2),
                     tmp_path / "run", progress=False)
        served = len(slow.arrivals), len(fast.arrivals)
    assert sum(served) == 24 and served[0] >= 1
    assert served[1] >= 3 * served[0]  # the idle replica takes the work
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    settings = manifest["backends"][0]["settings"]
    assert settings["requests_per_replica"] == list(served)


def test_equal_replicas_split_a_tick_evenly(tmp_path):
    with FakeOpenAIServer(latency_s=0.2) as a, FakeOpenAIServer(latency_s=0.2) as b:
        run_scenario(llm_scenario([a.base_url, b.base_url]), tmp_path / "run", progress=False)
        assert len(a.arrivals) == len(b.arrivals) == 6


def test_router_prefers_the_least_loaded_replica():
    router = LeastOutstandingRouter(3)
    assert [router.acquire() for _ in range(3)] == [0, 1, 2]
    router.release(1)
    assert router.acquire() == 1
    router.release(0)
    router.release(2)
    assert router.acquire() in (0, 2) and router.outstanding.count(0) == 1


def test_api_key_comes_from_the_environment_and_is_never_recorded(tmp_path, monkeypatch):
    secret = "sk-test-5ecret-value-0123456789"
    monkeypatch.setenv("TINMEN_TEST_KEY", secret)
    with FakeOpenAIServer() as s:
        run_scenario(llm_scenario([s.base_url], api_key_env="TINMEN_TEST_KEY"),
                     tmp_path / "run", progress=False,
                     backend_flags=BackendOverrides.create(cache=tmp_path / "cache.sqlite"))
        assert {a.authorization for a in s.arrivals} == {f"Bearer {secret}"}
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["backends"][0]["settings"]["api_key_env"] == "TINMEN_TEST_KEY"


def test_unset_key_variable_is_a_one_line_error(tmp_path, write_yaml, capsys, monkeypatch):
    monkeypatch.delenv("TINMEN_NO_SUCH_KEY", raising=False)
    path = write_yaml(mini_scenario())
    code = main(["run", str(path), "--backend", "openai", "--model", "m", "--out",
                 str(tmp_path / "out"), "--api-key-env", "TINMEN_NO_SUCH_KEY"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "TINMEN_NO_SUCH_KEY is not set" in err and "Traceback" not in err


def test_structured_outputs_reach_a_vllm_server_as_extra_body(tmp_path):
    with FakeOpenAIServer() as s:
        run_scenario(llm_scenario([s.base_url], structured_output="choice"), tmp_path / "run",
                     progress=False)
        bodies = [a.body for a in s.arrivals]
    assert all(b["structured_outputs"] == {"choice": ["Choice: 1", "Choice: 2", "Choice: none"]}
               for b in bodies)
    assert not any("guided_choice" in b for b in bodies)
    assert decisions(tmp_path / "run").valid.all()


def test_json_schema_reaches_openai_as_response_format(tmp_path):
    with FakeOpenAIServer() as s:
        run_scenario(llm_scenario([s.base_url], structured_output="json", server="openai"),
                     tmp_path / "run", progress=False)
        body = s.arrivals[0].body
    schema = body["response_format"]["json_schema"]["schema"]
    assert body["response_format"]["type"] == "json_schema"
    assert schema["properties"]["choice"]["enum"] == ["1", "2", "none"]
    assert "max_completion_tokens" in body and "structured_outputs" not in body
    d = decisions(tmp_path / "run")
    assert d.valid.all() and set(d.parse_method) == {"json"}


def test_completions_api_sends_prompt_lists_rendered_with_the_chat_template(tmp_path, tiny_lm):
    data = mini_scenario(run={"ticks": 1, "seed": 7})
    data["agents"][0].update(
        backend="openai", model="fake-model", sampling={"seed": 11},
        backend_options={"api": "completions", "tokenizer": str(tiny_lm),
                         "prompts_per_request": 5, "backoff_s": 0.01})
    with FakeOpenAIServer() as s:
        data["agents"][0]["backend_options"]["base_urls"] = [s.base_url]
        run_scenario(validate_scenario(data, "t"), tmp_path / "run", progress=False)
        calls = s.requests_to("/v1/completions")
    assert [len(a.body["prompt"]) for a in calls] == [5, 5, 2]
    assert all(p.startswith("<|im_start|>system\n") and p.endswith("<|im_start|>assistant\n")
               for a in calls for p in a.body["prompt"])
    d = decisions(tmp_path / "run")
    assert len(d) == 12 and d.valid.all() and (d.prompt_tokens > 0).all()


def test_completions_api_keeps_distinct_seeds_apart(tmp_path, tiny_lm):
    with FakeOpenAIServer() as s:
        options = BackendOptions(base_urls=(s.base_url,), api="completions",
                                 tokenizer=str(tiny_lm))
        backend = OpenAIBackend("m", options=options)
        answers = backend.generate([make_request(seed=10 * i) for i in range(4)])
        backend.close()  # (consecutive seeds would share one request as samples: n)
        assert [len(a.body["prompt"]) for a in s.arrivals] == [1, 1, 1, 1]
    assert all(a.text for a in answers)


def test_unreadable_answers_are_asked_again_with_a_new_seed(tmp_path):
    answered = []

    def first_time_gibberish(body, prompt):
        answered.append(body["seed"])  # re-asks go out only after the whole first round
        return "zzz qqq" if len(answered) <= 12 else "Fine.\nChoice: 2"

    with FakeOpenAIServer(answer=first_time_gibberish) as s:
        run_scenario(llm_scenario([s.base_url]), tmp_path / "run", progress=False)
        seeds = [a.body["seed"] for a in s.arrivals]
    d = decisions(tmp_path / "run")
    assert d.valid.all() and (d.reasks == 1).all() and (d.attempts == 2).all()
    assert len(seeds) == 24 and len(set(seeds)) == 24  # re-asks carry fresh seeds
    assert ticks(tmp_path / "run").reasks.tolist() == [12]
    transcripts = [json.loads(line) for line in
                   (tmp_path / "run" / "transcripts.jsonl").read_text().splitlines()]
    assert all(t["earlier_answers"] == ["zzz qqq"] for t in transcripts)


def test_without_reasks_unreadable_answers_are_recorded_invalid(tmp_path):
    with FakeOpenAIServer(answer=lambda body, prompt: "zzz qqq") as s:
        run_scenario(llm_scenario([s.base_url], retry_invalid=0), tmp_path / "run",
                     progress=False)
    d = decisions(tmp_path / "run")
    assert not d.valid.any() and (d.outcome == "invalid").all()
    assert (d.failure == "unparsed: no choice found").all() and (d.reasks == 0).all()


def test_a_model_name_is_required():
    with pytest.raises(BackendCreationError, match="needs a model"):
        OpenAIBackend(None)


def test_prompt_text_of_a_request_body():
    assert prompt_text({"messages": [{"content": "a"}, {"content": "b"}]}) == "a\nb"
    assert Counter(prompt_text({"prompt": ["x", "y"]})) == Counter("x\ny")


def test_failure_reasons_never_carry_a_key_even_masked():
    from agents.backends.openai_server import scrub_secrets

    text = ("Incorrect API key provided: sk-proj-ab12***wxyz. Also the raw sk-secret-123 "
            "and key_9f8e7d6c")
    clean = scrub_secrets(text, "sk-secret-123")
    assert "sk-" not in clean and "9f8e7d6c" not in clean and "wxyz" not in clean
    assert clean.startswith("Incorrect API key provided: ***")
    for plain in ("connection failed (ConnectError)", "missing key-value pair"):
        assert scrub_secrets(plain, None) == plain


def test_a_key_echoed_in_answers_is_scrubbed_from_every_stored_file(tmp_path, monkeypatch):
    import base64
    from urllib.parse import quote

    secret = "sk-test/5ecret+value=0123456789"
    encoded = {
        "plain": secret,
        "url": quote(secret, safe=""),
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 inside": base64.b64encode(f"Bearer {secret}".encode()).decode(),
        "urlsafe base64 inside": base64.urlsafe_b64encode(f"x:{secret}".encode()).decode(),
        "hex": secret.encode().hex(),
    }
    assert len(set(encoded.values())) == len(encoded)

    def echo(body, prompt):
        return "Explanation: " + " | ".join(encoded.values()) + "\nChoice: 1"

    monkeypatch.setenv("TINMEN_TEST_KEY", secret)
    with FakeOpenAIServer(answer=echo) as s:
        run_scenario(llm_scenario([s.base_url], api_key_env="TINMEN_TEST_KEY"),
                     tmp_path / "run", progress=False,
                     backend_flags=BackendOverrides.create(cache=tmp_path / "cache.sqlite"))
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite" for p in stored)
    assert any(p.name == "transcripts.jsonl" for p in stored)
    for path in stored:
        data = path.read_bytes()
        for kind, form in encoded.items():
            # any 12 consecutive characters of an encoded form would leak part of the key
            middle = form[len(form) // 2 - 6: len(form) // 2 + 6]
            assert middle.encode() not in data, (path, kind)
    transcript = (tmp_path / "run" / "transcripts.jsonl").read_text()
    assert "***" in transcript and "Choice: 1" in transcript


# ---------------------------------------------------------------------- grouped prompt lists
def completions_backend(url, tiny_lm, **options):
    options = {"base_urls": (url,), "api": "completions", "tokenizer": str(tiny_lm),
               "backoff_s": 0.01, **options}
    return OpenAIBackend("m", options=BackendOptions(**options))


def shared_seed_requests(n=12, seed=5):
    return [make_request(seed=seed, user=f"I need car number {i}.", request_id=f"r{i}")
            for i in range(n)]


def answer_table(answers):
    return [(a.text, a.prompt_tokens, a.completion_tokens, a.failure) for a in answers]


def test_grouped_requests_answer_each_decision_as_ungrouped_ones(tmp_path, tiny_lm):
    from agents.backends.cache import KeyRecipe

    requests = shared_seed_requests()
    tables, bodies = {}, {}
    for size in (1, 5):
        with FakeOpenAIServer() as s:
            backend = completions_backend(s.base_url, tiny_lm, prompts_per_request=size)
            tables[size] = answer_table(backend.generate(requests))
            backend.close()
            bodies[size] = [a.body for a in s.arrivals]
    assert [len(b["prompt"]) for b in bodies[1]] == [1] * 12
    assert [len(b["prompt"]) for b in bodies[5]] == [5, 5, 2]
    assert {b["seed"] for b in bodies[1] + bodies[5]} == {5}  # each decision's own seed
    assert tables[1] == tables[5] and all(t[0] and t[1] > 0 for t in tables[5])
    assert len({t[0] for t in tables[5]}) > 1  # answers depend on the prompt, not the list
    # the cache key ignores how requests are grouped, so both runs share entries
    recipe = KeyRecipe.from_options("m", BackendOptions(api="completions",
                                                        tokenizer=str(tiny_lm)))
    keys = [recipe.key(r) for r in requests]
    assert recipe == KeyRecipe.from_options("m", BackendOptions(
        api="completions", tokenizer=str(tiny_lm), prompts_per_request=5))
    assert len(set(keys)) == 12


def test_grouped_and_ungrouped_runs_record_the_same_decisions_and_cache(tmp_path, tiny_lm):
    import sqlite3

    rows, entries = {}, {}
    for size in (1, 4):
        data = mini_scenario(run={"ticks": 1, "seed": 7})
        with FakeOpenAIServer() as s:
            data["agents"][0].update(
                backend="openai", model="fake-model", sampling={"seed": 11},
                backend_options={"api": "completions", "tokenizer": str(tiny_lm),
                                 "prompts_per_request": size, "backoff_s": 0.01,
                                 "base_urls": [s.base_url]})
            cache = tmp_path / f"cache{size}.sqlite"
            run_scenario(validate_scenario(data, "t"), tmp_path / f"run{size}",
                         backend_flags=BackendOverrides.create(cache=cache), progress=False)
            assert len(s.arrivals) == (12 if size == 1 else 3)
        d = decisions(tmp_path / f"run{size}")
        rows[size] = d[["customer_id", "seed", "choice", "prompt_tokens",
                        "completion_tokens", "valid"]].sort_values("customer_id").reset_index(
                            drop=True)
        with sqlite3.connect(cache) as db:
            entries[size] = sorted(db.execute(
                "SELECT key, text, prompt_tokens, completion_tokens FROM responses").fetchall())
    pd.testing.assert_frame_equal(rows[1], rows[4])
    assert entries[1] and entries[1] == entries[4]  # same keys, answers, counts


def test_a_fault_in_one_grouped_request_retries_and_fails_only_its_decisions(tiny_lm):
    requests = shared_seed_requests()
    doomed = requests[5].messages[1]["content"]  # in the second list of five

    def fault(body, index):
        return "500" if any(doomed in p for p in body["prompt"]) else None

    with FakeOpenAIServer(fault=fault) as s:
        backend = completions_backend(s.base_url, tiny_lm, prompts_per_request=5,
                                      max_retries=2)
        answers = backend.generate(requests)
        backend.close()
        sizes = [len(a.body["prompt"]) for a in s.arrivals]
    assert sorted(sizes) == [2, 5, 5, 5, 5]  # the faulty list alone was sent three times
    failed = [i for i, a in enumerate(answers) if a.failure]
    assert failed == [5, 6, 7, 8, 9]
    assert all(answers[i].failure == "gave up after 3 attempts: HTTP 500: fault 500"
               and answers[i].attempts == 3 for i in failed)
    assert all(a.text and a.attempts == 1 for i, a in enumerate(answers) if i not in failed)


def test_answers_keep_their_prompts_order_when_choices_come_back_reordered(tiny_lm):
    from agents.backends.chat_template import render_prompt
    from agents.fake_server import default_answer

    requests = shared_seed_requests(n=6)
    with FakeOpenAIServer(reverse_choices=True) as s:
        backend = completions_backend(s.base_url, tiny_lm, prompts_per_request=6)
        answers = backend.generate(requests)
        expected = [default_answer({"seed": 5}, render_prompt(backend.tokenizer, r.messages))
                    for r in requests]
        backend.close()
    assert len(s.arrivals) == 1 and [a.text for a in answers] == expected
    assert len(set(expected)) > 1


def test_completions_bodies_carry_every_sampling_field_and_no_special_tokens(tiny_lm):
    from agents.backends.openai_server import NEUTRAL_SAMPLING

    with FakeOpenAIServer() as s:
        backend = completions_backend(s.base_url, tiny_lm, prompts_per_request=4)
        backend.generate(shared_seed_requests(n=4))
        settings = backend.describe()
        backend.close()
        (body,) = [a.body for a in s.arrivals]
    assert body["add_special_tokens"] is False and body["return_token_ids"] is True
    assert {k: body[k] for k in NEUTRAL_SAMPLING} == NEUTRAL_SAMPLING
    assert body["temperature"] == 0.7 and body["top_p"] == 1.0 and body["max_tokens"] == 256
    assert settings["sampling_defaults"].startswith("explicit")
    assert settings["add_special_tokens"] is False


# ---------------------------------------------------------------------- undecodable bodies
def test_undecodable_bodies_are_retried_like_truncated_json(tmp_path):
    faults = {0: "badutf8", 1: "latin1"}
    with FakeOpenAIServer(fault=lambda body, i: faults.get(i)) as s:
        run_scenario(llm_scenario([s.base_url]), tmp_path / "run", progress=False)
        assert len(s.arrivals) == 14
    d = decisions(tmp_path / "run")
    assert len(d) == 12 and d.valid.all() and d.retries.sum() == 2


def test_always_undecodable_answers_fail_only_their_decision_naming_the_encoding(tmp_path):
    victims: dict[int, str] = {}

    def fault(body, index):
        if len(victims) < 2 and body["seed"] not in victims:
            victims[body["seed"]] = ("badutf8", "latin1")[len(victims)]
        return victims.get(body["seed"])

    with FakeOpenAIServer(fault=fault) as s:
        run_scenario(llm_scenario([s.base_url], max_retries=2), tmp_path / "run",
                     progress=False)
    d = decisions(tmp_path / "run")
    assert len(d) == 12
    failed = d[d.outcome == "failed"]
    assert sorted(failed.seed) == sorted(victims)
    assert all(r.startswith("backend: gave up after 3 attempts: unreadable response: body is "
                            "not valid UTF-8 (invalid") for r in failed.failure)
    assert "UnicodeDecodeError" not in " ".join(failed.failure)
    others = d[d.outcome != "failed"]
    assert len(others) == 10 and others.valid.all() and (others.attempts == 1).all()
