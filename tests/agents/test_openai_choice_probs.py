"""Choice probabilities from a server's top-k log-probs, against the loopback test server."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from agents.backends.openai_logprobs import NO_LOGPROBS, read_distribution
from agents.backends.openai_server import OpenAIBackend
from agents.backends.options import BackendOptions
from agents.backends.overrides import BackendOverrides
from agents.choice_probs import (
    TokenChoices,
    choice_position,
    option_labels,
    read_top_logprobs,
)
from agents.fake_server import FakeOpenAIServer
from agents.toy_lm import ToyLM
from sim.engine.run import run_scenario
from tests.agents.test_openai_backend import llm_scenario
from tests.conftest import make_request

L = math.log
ANSWER = "It fits.\nChoice: 2"
CHOICE_TOP = [(" 2", L(0.5)), (" 1", L(0.3)), (" none", L(0.1)), (" 3", L(0.05))]


def tokens(body, prompt, text):
    """The answer in tokens; the choice position has four alternatives, best first."""
    return [("It", L(0.9), []), (" fits", L(0.8), []), (".", L(0.9), []),
            ("\n", L(0.9), []), ("Choice", L(1.0), []), (":", L(1.0), []),
            (" 2", L(0.5), CHOICE_TOP)]


@pytest.fixture
def server():
    with FakeOpenAIServer(answer=lambda body, prompt: ANSWER, logprobs=tokens) as s:
        yield s


def backend(server, **options):
    return OpenAIBackend("fake-model", options=BackendOptions(
        base_urls=(server.base_url,), choice_probs="top_logprobs", **options))


def test_an_option_outside_the_top_k_is_unknown_and_the_mass_says_so(server):
    b = backend(server, top_logprobs=3)
    answer = b.generate([make_request(seed=1, options=3)])[0]
    b.close()
    body = server.requests_to("chat/completions")[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert answer.choice_probs == pytest.approx((0.3, 0.5, None, 0.1))
    assert answer.choice_probs[2] is None  # " 3" was cut from the top 3
    assert answer.choice_prob_mass == pytest.approx(0.9)
    assert answer.choice_probs_kind == "conditional"


def test_with_every_option_in_the_top_k_the_mass_is_what_the_options_hold(server):
    b = backend(server, top_logprobs=4)
    answer = b.generate([make_request(seed=1, options=3)])[0]
    b.close()
    assert answer.choice_probs == pytest.approx((0.3, 0.5, 0.05, 0.1))
    assert answer.choice_prob_mass == pytest.approx(0.95)


def test_off_asks_for_nothing(server):
    b = OpenAIBackend("fake-model", options=BackendOptions(base_urls=(server.base_url,)))
    answer = b.generate([make_request(seed=1)])[0]
    b.close()
    assert "logprobs" not in server.requests_to("chat/completions")[0].body
    assert answer.choice_probs is None


def test_completions_format_and_two_digit_numbers():
    choice = {"logprobs": {
        "tokens": ["Choice", ":", " 1", "2"], "token_logprobs": [0.0, 0.0, L(0.6), L(0.7)],
        "top_logprobs": [{}, {}, {" 1": L(0.6), " 2": L(0.3)},
                         {"2": L(0.7), "\n": L(0.2), "0": L(0.1)}]}}
    request = make_request(options=12)
    probs, mass, kind = read_distribution(choice, "Choice: 12", request,
                                          BackendOptions(choice_probs="top_logprobs",
                                                         api="completions"))
    expected = [None] * 13
    expected[0] = 0.6 * 0.2     # " 1" then a token that ends the number
    expected[1] = 0.3           # " 2": no listed number goes on from 2
    expected[9] = 0.6 * 0.1     # " 1" "0"
    expected[11] = 0.6 * 0.7    # " 1" "2", the answer ends
    assert probs == pytest.approx(expected)
    assert mass == pytest.approx(sum(p for p in expected if p is not None))
    assert kind == "conditional"


def test_tokens_that_do_not_spell_the_answer_give_nothing():
    wrong = [TokenChoices("Choice: 3", 0.0, ())]
    assert read_top_logprobs("Choice: 2", wrong, ["1", "2", "none"]) is None


def test_a_run_records_the_probabilities_and_their_expectations(server, tmp_path):
    run_scenario(llm_scenario([server.base_url], choice_probs="top_logprobs", top_logprobs=4),
                 tmp_path / "run", progress=False)
    d = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    assert d.choice_probs.map(len).eq(3).all()  # two listed products, then `none`
    assert d.choice_prob_mass.round(6).eq(0.9).all()
    assert d.expected_override.between(0, 1).all()


PROB_COLUMNS = ["decision_id", "choice", "choice_probs", "choice_prob_mass", "choice_probs_kind",
                "p_customer_best", "expected_override", "expected_agency_loss"]


def test_the_cache_stores_the_probabilities_and_replay_reproduces_them(server, tmp_path):
    cache = tmp_path / "cache.sqlite"
    flags = BackendOverrides.create(cache=cache)
    scenario = llm_scenario([server.base_url], choice_probs="top_logprobs", top_logprobs=3)
    run_scenario(scenario, tmp_path / "live", backend_flags=flags, progress=False)
    run_scenario(scenario, tmp_path / "again", backend_flags=flags, progress=False)
    run_scenario(scenario, tmp_path / "replay", backend_flags=flags, progress=False,
                 backend="replay")
    live, again, replay = (pd.read_parquet(tmp_path / name / "decisions.parquet")
                           for name in ("live", "again", "replay"))
    assert live.choice_probs.notna().all() and again.cached.all()
    pd.testing.assert_frame_equal(live[PROB_COLUMNS], again[PROB_COLUMNS])
    pd.testing.assert_frame_equal(live[PROB_COLUMNS], replay[PROB_COLUMNS])
    # answers cached without probabilities are not taken for a run that asks for them
    plain = llm_scenario([server.base_url])
    server.reset()
    run_scenario(plain, tmp_path / "plain", backend_flags=flags, progress=False)
    assert len(server.arrivals) == 12


def test_each_choice_of_a_prompt_list_is_read_with_its_own_logprobs(tiny_lm):
    """Prompts of one list answer different options; the server lists the choices last to
    first, so a reader that took positions instead of `index`, or one choice's log-probs for
    all, would give some decision another's probabilities."""
    def number(prompt):
        return 1 + int(prompt.split("car number ")[1][0]) % 3

    def answer(body, prompt):
        return f"Choice: {number(prompt)}"

    def list_tokens(body, prompt, text):
        n = number(prompt)
        top = [(f" {n}", L(0.7)), *((f" {k}", L(0.1)) for k in (1, 2, 3) if k != n)]
        return [("Choice", L(1.0), []), (":", L(1.0), []), (f" {n}", L(0.7), top)]

    with FakeOpenAIServer(answer=answer, logprobs=list_tokens, reverse_choices=True) as s:
        b = OpenAIBackend("m", options=BackendOptions(
            base_urls=(s.base_url,), api="completions", tokenizer=str(tiny_lm),
            prompts_per_request=6, choice_probs="top_logprobs", top_logprobs=4,
            backoff_s=0.01))
        requests = [make_request(seed=5, user=f"I need car number {i}.", request_id=f"r{i}")
                    for i in range(6)]
        answers = b.generate(requests)
        b.close()
        bodies = s.requests_to("completions")
    assert len(bodies) == 1 and len(bodies[0].body["prompt"]) == 6
    assert bodies[0].body["logprobs"] == 4
    for i, a in enumerate(answers):
        n = 1 + i % 3
        assert a.text == f"Choice: {n}"
        expected = [0.1, 0.1, 0.1, None]
        expected[n - 1] = 0.7
        assert a.choice_probs == pytest.approx(tuple(expected))
        assert a.choice_prob_mass == pytest.approx(0.9)


def test_a_server_that_returns_no_logprobs_is_reported_once_and_recorded(capsys):
    with FakeOpenAIServer(answer=lambda body, prompt: ANSWER) as s:  # no logprobs served
        b = backend(s)
        answers = b.generate([make_request(seed=k, request_id=f"r{k}") for k in range(3)])
        again = b.generate([make_request(seed=9)])
        b.close()
    for answer in answers + again:
        assert answer.text == ANSWER and answer.choice_probs is None
        assert answer.choice_probs_error == NO_LOGPROBS
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "top_logprobs" in warnings[0]


def test_an_answer_without_a_choice_position_says_so(capsys):
    with FakeOpenAIServer(answer=lambda body, prompt: "no idea", logprobs=lambda b, p, t: [
            ("no idea", L(0.5), [("no idea", L(0.5))])]) as s:
        b = backend(s)
        answer = b.generate([make_request(seed=1)])[0]
        b.close()
    assert answer.choice_probs is None
    assert answer.choice_probs_error == "top_logprobs: the answer has no choice position"
    assert "warning" not in capsys.readouterr().err


def test_the_toy_lm_server_serves_top_logprobs_that_match_the_model():
    lm = ToyLM()
    with FakeOpenAIServer(toy_lm=lm) as s:
        b = backend(s, top_logprobs=20)
        request = make_request(seed=4, options=3)
        answer = b.generate([request])[0]
        b.close()
    assert answer.choice_probs_error is None and answer.choice_probs is not None
    text = answer.text
    at = choice_position(text)
    assert lm.encode(text) == lm.encode(text[:at]) + lm.encode(text[at:])  # `Choice: `, `2`
    context = lm.encode(lm.render_chat(request.messages)) + lm.encode(text[:at])
    labels = option_labels(request)
    # `1`, `2`, `3` and `none` are single toy tokens and no label extends another
    assert all(len(lm.encode(label)) == 1 for label in labels)
    expected = [math.exp(lm.logprob(context, lm.encode(label)[0])) for label in labels]
    known = [(p, e) for p, e in zip(answer.choice_probs, expected, strict=True) if p is not None]
    assert known  # the written label at least
    for p, e in known:
        assert p == pytest.approx(e, rel=1e-9)
