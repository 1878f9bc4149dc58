"""Exact choice probabilities through a vLLM-like server, over real HTTP on 127.0.0.1.

The loopback server scores token prompts with a toy language model (`agents.toy_lm`); the
expected probabilities are computed here from that model directly, with no HTTP.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from agents.backends.openai_server import OpenAIBackend
from agents.backends.options import BackendOptions
from agents.backends.overrides import BackendOverrides
from agents.backends.pool import BackendPool
from agents.backends.server_scoring import covering
from agents.errors import BackendCreationError
from agents.fake_server import FakeOpenAIServer
from agents.toy_lm import ToyLM
from sim.engine.run import run_scenario
from tests.agents.test_openai_backend import llm_scenario
from tests.conftest import make_request

LM = ToyLM()
LABELS_12 = [str(n) for n in range(1, 13)] + ["none"]


def path_logprob(sequence: list[int], start: int) -> float:
    """log P(sequence[start:] | sequence[:start]) under the toy model."""
    return sum(LM.logprob(sequence[:k], sequence[k]) for k in range(start, len(sequence)))


def expected_probs(prefix: list[int], lead: str, labels: list[str]) -> list[float]:
    """P(label's tokens after `prefix`, and the answer does not go on to a longer label)."""
    out = []
    for label in labels:
        spelled = prefix + LM.encode(lead + label)
        p = math.exp(path_logprob(spelled, len(prefix)))
        for longer in labels:
            if longer != label and longer.startswith(label):
                rest = LM.encode(longer[len(label):])
                p -= math.exp(path_logprob(spelled + rest, len(prefix)))
        out.append(p)
    return out


def chat_prompt_ids(request) -> list[int]:
    return LM.encode(LM.render_chat(request.messages))


def backend(server, **options) -> OpenAIBackend:
    return OpenAIBackend("toy", options=BackendOptions(
        base_urls=(server.base_url,), choice_probs="exact", backoff_s=0.01, **options))


def scoring_calls(server):
    return [a for a in server.requests_to("/v1/completions") if "prompt_logprobs" in a.body]


@pytest.fixture
def server():
    with FakeOpenAIServer(toy_lm=LM) as s:
        yield s


def test_conditional_probabilities_over_twelve_products_match_the_model(server):
    b = backend(server, prompts_per_request=20)
    requests = [make_request(seed=s, options=12, request_id=f"r{s}", user=f"I need car {s}.")
                for s in range(4)]
    answers = b.generate(requests)
    b.close()
    for request, answer in zip(requests, answers, strict=True):
        text = answer.text
        cut = text.rindex("Choice:") + len("Choice:")
        prefix = chat_prompt_ids(request) + LM.encode(text[:cut])
        expected = expected_probs(prefix, text[cut:cut + 1], LABELS_12)
        assert answer.choice_probs == pytest.approx(expected, rel=1e-9, abs=1e-15)
        assert answer.choice_probs_kind == "conditional"
        assert answer.choice_probs_error is None
        assert answer.choice_prob_mass == pytest.approx(sum(expected))
        assert sum(p / answer.choice_prob_mass for p in answer.choice_probs) == pytest.approx(1)
    assert len({a.choice_probs for a in answers}) == len(answers)  # each its own prefix
    calls = scoring_calls(server)
    assert all(c.body["prompt_logprobs"] == 0 and c.body["max_tokens"] == 1 for c in calls)
    assert all(len(c.body["prompt"]) <= 20 for c in calls)
    # whole decisions per request: 13 labels + 3 paths from 1 to 10..12 (` 1` + `0`, ...);
    # ` 1` begins those three, so it is read from them, and ` 1` + `1` is the label `11`
    # itself (` 11` is no toy token): 14 prompts each
    assert LM.encode(" 11") == LM.encode(" 1") + LM.encode("1")
    assert sum(len(c.body["prompt"]) for c in calls) == 4 * 14
    assert all(isinstance(t, int) for c in calls for p in c.body["prompt"] for t in p)


def test_direct_probabilities_of_the_choice_form(server):
    b = backend(server, structured_output="choice")
    request = make_request(seed=3, options=3)
    answer = b.generate([request])[0]
    b.close()
    assert answer.text.startswith("Choice: ")
    labels = ["1", "2", "3", "none"]
    expected = expected_probs(chat_prompt_ids(request), "", [f"Choice: {x}" for x in labels])
    assert answer.choice_probs == pytest.approx(expected, rel=1e-9)
    assert answer.choice_probs_kind == "direct"


def test_the_json_form_is_read_inside_its_choice_field(server):
    b = backend(server, structured_output="json")
    request = make_request(seed=4, options=3)
    answer = b.generate([request])[0]
    b.close()
    text = answer.text
    cut = text.rindex('"choice": "') + len('"choice": "')
    prefix = chat_prompt_ids(request) + LM.encode(text[:cut])
    expected = expected_probs(prefix, "", ["1", "2", "3", "none"])
    assert answer.choice_probs == pytest.approx(expected, rel=1e-9)
    assert answer.choice_probs_kind == "conditional"


def test_completions_api_scores_the_locally_rendered_prompt(server, tiny_lm):
    from agents.backends.chat_template import load_tokenizer, render_prompt

    b = backend(server, api="completions", tokenizer=str(tiny_lm))
    request = make_request(seed=2, options=3)
    answer = b.generate([request])[0]
    b.close()
    rendered = render_prompt(load_tokenizer(str(tiny_lm), None), request.messages)
    text = answer.text
    cut = text.rindex("Choice:") + len("Choice:")
    prefix = LM.encode(rendered) + LM.encode(text[:cut])
    expected = expected_probs(prefix, " ", ["1", "2", "3", "none"])
    assert answer.choice_probs == pytest.approx(expected, rel=1e-9)
    sent = [a.body for a in server.requests_to("/tokenize")]
    assert {"prompt": rendered, "add_special_tokens": False, "model": "toy"} in sent


def test_identical_answers_are_scored_once(server):
    b = backend(server)
    answers = b.generate([make_request(seed=1, request_id=f"r{k}") for k in range(3)])
    b.close()
    assert len({a.text for a in answers}) == 1
    assert sum(len(c.body["prompt"]) for c in scoring_calls(server)) == 4
    assert answers[0].choice_probs is not None
    assert all(a.choice_probs == answers[0].choice_probs for a in answers)


def test_a_fault_in_one_scoring_request_retries_only_that_request():
    failed: list[int] = []

    def fault(body, index):
        if "prompt_logprobs" in body and not failed:
            failed.append(index)
            return "500"
        return None

    with FakeOpenAIServer(toy_lm=LM, fault=fault) as s:
        b = backend(s, prompts_per_request=4)
        answers = b.generate([make_request(seed=k, options=3, request_id=f"r{k}",
                                           user=f"I need car {k}.") for k in range(3)])
        b.close()
        calls = scoring_calls(s)
        generated = s.requests_to("chat/completions")
    assert len(generated) == 3  # the answers are not asked again
    assert len(calls) == 3 + 1  # one decision (4 prompts) per request, one retried
    assert [c.body for c in calls].count(s.arrivals[failed[0]].body) == 2
    assert all(a.choice_probs is not None and a.choice_probs_error is None for a in answers)


def test_a_scoring_request_that_keeps_failing_leaves_only_its_decisions_without_probs():
    def fault(body, index):
        prompts = body.get("prompt") if "prompt_logprobs" in body else None
        return "400" if prompts and len(prompts[0]) % 2 == 0 else None  # some decisions only

    with FakeOpenAIServer(toy_lm=LM, fault=fault) as s:
        b = backend(s, prompts_per_request=4)
        answers = b.generate([make_request(seed=k, options=3, request_id=f"r{k}",
                                           user="I need a car" + "!" * k) for k in range(4)])
        b.close()
    assert all(a.failure is None and a.text for a in answers)
    lost = [a for a in answers if a.choice_probs is None]
    assert 0 < len(lost) < len(answers)
    assert all(a.choice_probs_error.startswith("scoring /completions: HTTP 400") for a in lost)


def test_a_server_without_exact_scoring_is_reported_once(capsys):
    with FakeOpenAIServer() as s:  # no /tokenize: a 404, like a hosted API
        b = backend(s)
        first = b.generate([make_request(seed=k, request_id=f"r{k}") for k in range(3)])
        again = b.generate([make_request(seed=9)])
        b.close()
        paths = {a.path for a in s.arrivals}
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1 and "needs a vLLM server" in lines[0] and "HTTP 404" in lines[0]
    assert paths == {"/v1/chat/completions"}  # no scoring request was sent
    for answer in first + again:
        assert answer.failure is None and answer.choice_probs is None
        assert answer.choice_probs_error.startswith("server without exact scoring")


def test_exact_is_accepted_with_a_vllm_server_and_refused_with_a_hosted_api(server):
    flags = BackendOverrides.create({"choice_probs": "exact", "base_urls": [server.base_url]})
    pool = BackendPool(flags)
    try:
        answer = pool.get("openai", "toy").generate([make_request(seed=1)])[0]
    finally:
        pool.close()
    assert answer.choice_probs is not None
    with pytest.raises(BackendCreationError, match="server: openai.*top_logprobs"):
        OpenAIBackend("m", options=BackendOptions(choice_probs="exact", server="openai"))


PROB_COLUMNS = ["decision_id", "choice", "choice_probs", "choice_prob_mass", "choice_probs_kind",
                "choice_probs_error", "p_customer_best", "expected_override"]


def test_the_cache_stores_exact_probabilities_and_replay_reproduces_them(server, tmp_path):
    cache = tmp_path / "cache.sqlite"
    flags = BackendOverrides.create(cache=cache)
    scenario = llm_scenario([server.base_url], choice_probs="exact")
    run_scenario(scenario, tmp_path / "live", backend_flags=flags, progress=False)
    server.reset()
    run_scenario(scenario, tmp_path / "replay", backend_flags=flags, progress=False,
                 backend="replay")
    assert server.arrivals == []
    live, replay = (pd.read_parquet(tmp_path / name / "decisions.parquet")
                    for name in ("live", "replay"))
    assert live.choice_probs.notna().all() and live.choice_probs_error.isna().all()
    assert (live.choice_probs_kind == "conditional").all()
    pd.testing.assert_frame_equal(live[PROB_COLUMNS], replay[PROB_COLUMNS])


def test_ticks_count_generation_and_scoring_requests_apart(server, tmp_path):
    scenario = llm_scenario([server.base_url], ticks=2, choice_probs="exact")
    run_scenario(scenario, tmp_path / "run", progress=False)
    generated = len(server.requests_to("chat/completions"))
    scoring = len(server.requests_to("/tokenize")) + len(scoring_calls(server))
    assert generated and scoring and generated + scoring == len(server.arrivals)
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert ticks.requests.sum() == generated
    assert ticks.scoring_requests.sum() == scoring and (ticks.scoring_requests > 0).all()
    assert ticks.scoring_s.notna().all() and (ticks.scoring_s <= ticks.backend_s).all()


def test_a_scoring_failure_is_recorded_in_the_run_and_replayed(tmp_path):
    def fault(body, index):
        return "400" if "prompt_logprobs" in body else None

    with FakeOpenAIServer(toy_lm=LM, fault=fault) as s:
        cache = tmp_path / "cache.sqlite"
        flags = BackendOverrides.create(cache=cache)
        scenario = llm_scenario([s.base_url], choice_probs="exact")
        run_scenario(scenario, tmp_path / "live", backend_flags=flags, progress=False)
    run_scenario(scenario, tmp_path / "replay", backend_flags=flags, progress=False,
                 backend="replay")
    live, replay = (pd.read_parquet(tmp_path / name / "decisions.parquet")
                    for name in ("live", "replay"))
    assert live.choice.notna().all() and live.choice_probs.isna().all()
    assert live.choice_probs_error.str.startswith("scoring /completions: HTTP 400").all()
    pd.testing.assert_frame_equal(live[PROB_COLUMNS], replay[PROB_COLUMNS])


def test_a_sequence_that_begins_another_is_not_sent_on_its_own():
    prefix = [7, 8]
    sequences = [prefix + [1], prefix + [1, 0], prefix + [2], prefix + [1, 0], prefix + [1, 2]]
    kept, cover = covering(sequences, len(prefix))
    assert sorted(map(tuple, kept)) == [(7, 8, 1, 0), (7, 8, 1, 2), (7, 8, 2)]
    for sequence, held in zip(sequences, cover, strict=True):
        assert kept[held][:len(sequence)] == sequence


def leaving_probs(prefix: list[int], lead: str, labels: list[str]) -> list[float]:
    """P(label's tokens, then a next token that begins no longer label's rest): computed
    token by token from the toy model, without listing which longer labels to take out."""
    out = []
    for label in labels:
        spelled = prefix + LM.encode(lead + label)
        firsts = {LM.encode(longer[len(label):])[0] for longer in labels
                  if longer != label and longer.startswith(label)}
        going_on = sum(math.exp(LM.logprob(spelled, t)) for t in firsts)
        out.append(math.exp(path_logprob(spelled, len(prefix))) * (1 - going_on))
    return out


def test_over_a_hundred_options_each_label_loses_only_what_goes_on_past_it(server):
    b = backend(server, prompts_per_request=400)
    request = make_request(seed=5, options=120, request_id="wide")
    answer = b.generate([request])[0]
    b.close()
    assert answer.choice_probs_error is None, answer.choice_probs_error
    text = answer.text
    cut = text.rindex("Choice:") + len("Choice:")
    prefix = chat_prompt_ids(request) + LM.encode(text[:cut])
    labels = [str(n) for n in range(1, 121)] + ["none"]
    expected = leaving_probs(prefix, text[cut:cut + 1], labels)
    assert answer.choice_probs == pytest.approx(expected, rel=1e-9, abs=1e-15)
    one, ten = expected[0], expected[9]
    assert one > 0 and ten > 0  # `1` is not clipped to 0 by taking `100` out twice
