"""Wrappers keep the protocol: re-asking unreadable answers, accounting, retry policy."""

from __future__ import annotations

import random

from agents.backends.retry import RetryPolicy, classify, retry_after_seconds
from agents.backends.scripted import ScriptedBackend
from agents.backends.wrappers import MeteredBackend, ReaskingBackend, merge_reask, reask_seed
from agents.types import Completion
from tests.conftest import make_request


class Recording(ScriptedBackend):
    """A scripted backend that also keeps every request it was sent."""

    def __init__(self, answers):
        super().__init__(answers=answers)
        self.sent = []

    def generate(self, requests):
        self.sent.append(list(requests))
        return [Completion(text=c.text, failure=c.failure, prompt_tokens=10,
                           completion_tokens=5, latency_ms=2.0)
                for c in super().generate(requests)]


def test_reask_sends_only_unreadable_answers_again_with_derived_seeds():
    inner = Recording(["Choice: 1", "blah", "Choice: 2"])
    backend = ReaskingBackend(inner, max_reasks=2)
    batch = [make_request(seed=s) for s in (10, 11)]
    answers = backend.generate(batch)
    assert inner.calls == [2, 1]
    assert [r.seed for r in inner.sent[1]] == [reask_seed(11, 1)]
    assert answers[0].reasks == 0 and answers[0].attempts == 1
    again = answers[1]
    assert again.text == "Choice: 2" and again.reasks == 1 and again.attempts == 2
    assert again.earlier_answers == ("blah",) and again.prompt_tokens == 20
    assert again.latency_ms == 4.0


def test_reask_gives_up_after_the_limit_and_keeps_the_last_answer():
    inner = Recording(["nope"])
    answers = ReaskingBackend(inner, max_reasks=2).generate([make_request(seed=1)])
    assert inner.calls == [1, 1, 1]
    assert answers[0].reasks == 2 and answers[0].earlier_answers == ("nope", "nope")


def test_no_reask_for_refusals_deferrals_failures_or_greedy_requests():
    deferral = "Product A or Product B? Please let me know your preference."
    inner = Recording(["Choice: none", None, "blah", deferral])
    batch = [make_request(seed=1), make_request(seed=2), make_request(seed=3, temperature=0),
             make_request(seed=4)]
    answers = ReaskingBackend(inner, max_reasks=3).generate(batch)
    assert inner.calls == [4]
    assert [a.reasks for a in answers] == [0, 0, 0, 0]


def test_metered_backend_adds_up_the_work():
    backend = MeteredBackend(ReaskingBackend(Recording(["blah", "Choice: 1"]), 1))
    backend.generate([make_request(seed=1)])
    usage = backend.usage.as_dict()
    assert usage["calls"] == 1 and usage["requests"] == 1 and usage["reasks"] == 1
    assert usage["attempts"] == 2 and usage["prompt_tokens"] == 20
    assert backend.name == "scripted"


def test_backoff_grows_is_jittered_and_respects_retry_after():
    policy = RetryPolicy(max_retries=5, backoff_s=1.0, rng=random.Random(0))
    waits = [policy.delay(n) for n in range(1, 8)]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0
    assert all(15.0 <= w <= 30.0 for w in waits[5:])  # capped
    assert policy.delay(1, retry_after=7.5) == 7.5


def test_retry_after_headers():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({}) is None and retry_after_seconds({"retry-after": "x"}) is None


def test_fault_classification():
    assert classify(TimeoutError(), 5).retryable
    assert classify(TimeoutError(), 5).reason == "timeout after 5s"
    unexpected = classify(KeyError("k"), 5)
    assert not unexpected.retryable and unexpected.reason.startswith("unexpected error")


def test_choice_probabilities_follow_the_answer_that_stands():
    first = Completion(text="I cannot tell.", choice_probs=(0.5, 0.5, 0.0),
                       choice_prob_mass=1.0, choice_probs_kind="conditional")
    again = Completion(text="Choice: 2", choice_probs=(0.1, 0.8, 0.1), choice_prob_mass=1.0,
                       choice_probs_kind="conditional")
    merged = merge_reask(first, again)
    assert merged.text == "Choice: 2" and merged.choice_probs == (0.1, 0.8, 0.1)
    kept = merge_reask(first, Completion.failed("timeout"))
    assert kept.text == "I cannot tell." and kept.choice_probs == (0.5, 0.5, 0.0)
    assert kept.choice_prob_mass == 1.0 and kept.choice_probs_kind == "conditional"
