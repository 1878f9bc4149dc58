"""Wrappers that add behaviour to any backend while keeping its protocol.

- `ReaskingBackend` asks again, with a fresh seed, for answers that name no listed product.
- `MeteredBackend` keeps totals (requests, tokens, retries, failures, cache hits, time) for
  the run manifest and for benchmarks.

With `agents.backends.cache.CachedBackend` they stack as
`MeteredBackend(ReaskingBackend(CachedBackend(model backend)))`: re-asked requests have
their own seeds, so they are cached too, and a replay re-asks exactly as the original did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agents.backends.base import Backend, BackendWrapper
from agents.parsing import parse_choice
from agents.types import Completion, DecisionRequest


def reask_seed(seed: int, attempt: int) -> int:
    """The seed of the `attempt`-th re-ask of a request whose seed is `seed`."""
    digest = hashlib.sha256(f"tinmen-reask:{seed}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def needs_reask(request: DecisionRequest, completion: Completion) -> bool:
    """True when an answer arrived but was not read as a choice, a refusal or a deferral.

    A deferral (the agent handed the choice back to the customer) is the agent's answer, so
    asking again would change what is measured.
    """
    if completion.text is None or completion.failure is not None:
        return False
    parsed = parsed_answer(request, completion)
    return parsed.choice is None and not parsed.refused and not parsed.deferred


def parsed_answer(request: DecisionRequest, completion: Completion) -> Any:
    """`parse_choice` of an answered completion, reusing the parse a wrapper already made."""
    if completion.parsed is not None:
        return completion.parsed
    return parse_choice(completion.text or "", request.context.options)


def with_parse(request: DecisionRequest, completion: Completion) -> Completion:
    """The completion carrying the parse of its text (unchanged when it has no text)."""
    if completion.text is None or completion.failure is not None or completion.parsed is not None:
        return completion
    return dataclasses.replace(
        completion, parsed=parse_choice(completion.text, request.context.options))


def _add(a: int | None, b: int | None) -> int | None:
    if a is None and b is None:
        return None
    return (a or 0) + (b or 0)


def merge_reask(previous: Completion, again: Completion) -> Completion:
    """The record of a decision after one more ask: the new answer, every cost added up.

    If the re-ask itself failed (transport), the earlier answer stands. Choice probabilities
    follow the answer that stands.
    """
    answered = again.text is not None and again.failure is None
    return Completion(
        text=again.text if answered else previous.text,
        failure=None,
        latency_ms=previous.latency_ms + again.latency_ms,
        prompt_tokens=_add(previous.prompt_tokens, again.prompt_tokens),
        completion_tokens=_add(previous.completion_tokens, again.completion_tokens),
        attempts=previous.attempts + again.attempts,
        requests=previous.http_requests() + again.http_requests(),
        scoring_requests=previous.scoring_requests + again.scoring_requests,
        scoring_s=previous.scoring_s + again.scoring_s,
        cached=previous.cached and again.cached,
        retries=previous.retries + again.retries,
        reasks=previous.reasks + 1,
        finish_reason=again.finish_reason if answered else previous.finish_reason,
        earlier_answers=previous.earlier_answers + ((previous.text,) if answered else ()),
        earlier_answer_chars=previous.earlier_answer_chars + (
            (previous.answer_chars,) if answered else ()),
        parsed=again.parsed if answered else previous.parsed,
        answer_chars=(again if answered else previous).answer_chars,
        choice_probs=(again if answered else previous).choice_probs,
        choice_prob_mass=(again if answered else previous).choice_prob_mass,
        choice_probs_kind=(again if answered else previous).choice_probs_kind,
        choice_probs_error=(again if answered else previous).choice_probs_error,
    )


class ReaskingBackend(BackendWrapper):
    """Asks again, up to `max_reasks` times, for answers that name no listed product.

    The same prompt is sent with a seed derived from the request's own (`reask_seed`), all
    re-asks of a batch in one `generate` call. Requests at temperature 0 are not re-asked: a
    greedy model would give the same answer again. Answers it parsed carry their parse
    (`Completion.parsed`), so the engine does not parse them a second time.
    """

    def __init__(self, inner: Backend, max_reasks: int = 1) -> None:
        super().__init__(inner)
        self.max_reasks = max_reasks

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer every request, re-asking the unreadable ones."""
        answers = list(self.inner.generate(requests))
        if len(answers) != len(requests):
            return answers
        for attempt in range(1, self.max_reasks + 1):
            pending = []
            for i, request in enumerate(requests):
                if request.sampling.temperature > 0:
                    answers[i] = with_parse(request, answers[i])
                    if needs_reask(request, answers[i]):
                        pending.append(i)
            if not pending:
                break
            again = [dataclasses.replace(requests[i], seed=reask_seed(requests[i].seed, attempt))
                     for i in pending]
            replies = list(self.inner.generate(again))
            if len(replies) != len(again):
                break
            for i, reply in zip(pending, replies, strict=True):
                answers[i] = merge_reask(answers[i], reply)
        return answers

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest."""
        return {**self.inner.describe(), "retry_invalid": self.max_reasks}


@dataclasses.dataclass
class Usage:
    """Running totals of one backend's work."""

    calls: int = 0
    requests: int = 0
    cache_hits: int = 0
    failures: int = 0
    attempts: int = 0
    retries: int = 0
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {**dataclasses.asdict(self), "seconds": round(self.seconds, 3)}


class MeteredBackend(BackendWrapper):
    """Counts what a backend did: calls, requests, tokens, retries, failures and time."""

    def __init__(self, inner: Backend, options: BaseModel | None = None) -> None:
        """`options` (the effective backend options, if any) are reported by `describe`."""
        super().__init__(inner)
        self.options = options
        self.usage = Usage()

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer through `inner`, adding the batch to the totals."""
        started = time.perf_counter()
        answers = self.inner.generate(requests)
        u = self.usage
        u.seconds += time.perf_counter() - started
        u.calls += 1
        u.requests += len(requests)
        for c in answers:
            u.cache_hits += c.cached
            u.failures += c.failure is not None
            u.attempts += c.attempts
            u.retries += c.retries
            u.reasks += c.reasks
            if not c.cached:
                u.prompt_tokens += c.prompt_tokens or 0
                u.completion_tokens += c.completion_tokens or 0
        return answers

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest, with the effective options when known."""
        settings = self.inner.describe()
        if self.options is not None:
            settings["options"] = self.options.model_dump(mode="json")
        return settings
