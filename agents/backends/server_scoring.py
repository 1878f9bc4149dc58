"""Exact choice probabilities through a vLLM server: one scoring pass after each tick.

With `backend: openai` and `choice_probs: exact`, a tick's answers are generated as usual,
then every answered decision's options are scored by the same server:

1. Token ids come from the server's own `POST /tokenize` (at the server root, beside
   `/v1`), so they are the served model's: the prompt (chat `messages` with the generation
   prompt for `api: chat`; the locally rendered prompt text, without added special tokens,
   for `api: completions`), the answer's text before the choice (kept up to the last
   non-space character before the label, so the space before a label travels with it, as
   in ` 12`), and each target text (`lead + label`; memoised, the same for most decisions).
2. For every label, the sequence prefix + label tokens is sent as a token-id prompt to
   `/v1/completions` with `prompt_logprobs: 0` and `max_tokens: 1` (temperature 1 and
   vLLM's neutral sampling fields); the log-probs the server returns for the label's own
   tokens are summed. A sequence that begins another one is read from the longer one's
   log-probs and not sent (see `covering`). Sequences travel as lists of prompts, whole
   decisions per request, up to `prompts_per_request` prompts, at most `max_concurrency`
   requests per URL in flight, each with the generation's retry rules
   (`agents.backends.retry`); identical decisions (replicates) are scored once.
3. A label is complete when the answer leaves it: for each listed label that extends it
   with no listed label in between (`12` for `1`; `100` only through `10`, see
   `minimal_extensions`), the label's tokens followed by the tokens of the rest (`2`) are
   scored too and taken out. `choice_probs` are these raw probabilities and `choice_prob_mass`
   their sum: the share of the model's continuations that spell a listed label this way.

What "exact" means here: the probability of the canonical tokenization of each label (the
served tokenizer's), at temperature 1, with no grammar mask; the `hf` backend sums every
tokenization and renormalises under the mask. The conditional prefix is the answer's text
re-tokenized, which can differ from the tokens the model sampled.

Faults: a scoring request that fails after its retries leaves its decisions' probabilities
null with the reason in `choice_probs_error`; answers are never touched. A server that has
no `/tokenize` or ignores `prompt_logprobs` (a hosted API) is reported in one line, once,
and is not asked again.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.backends.base import ResultSink
from agents.backends.chat_template import render_prompt
from agents.backends.http_client import JsonClient
from agents.backends.retry import HTTPStatusError, classify
from agents.choice_probs import (
    CONDITIONAL,
    DIRECT,
    choice_position,
    direct_targets,
    option_labels,
)
from agents.errors import REASON_LIMIT, one_line
from agents.types import Completion, DecisionRequest

UNSUPPORTED_STATUS = frozenset({404, 405, 501})
"""Statuses meaning the endpoint is not there: not a vLLM server."""


class Unsupported(Exception):
    """The server does not offer what exact scoring needs."""


class ScoringFailed(Exception):
    """One scoring or tokenize request failed after its retries."""


@dataclass(slots=True)
class _Plan:
    """One decision to score: its token sequences and how they combine."""

    row: int
    kind: str
    start: int                     # where every sequence's continuation starts
    sequences: list[list[int]]     # one per label, then one per (label, longer label)
    extensions: list[tuple[int, int]]  # (label, sequence) pairs taken out of the label
    prompts: list[list[int]]       # the sequences no other one extends: what is sent
    cover: list[int]               # per sequence, the prompt that holds it


def covering(sequences: Sequence[list[int]], start: int) -> tuple[list[list[int]], list[int]]:
    """The sequences that no other one extends, and for each sequence the one holding it.

    A sequence that is the beginning of another (` 1` of ` 1`+`0`) needs no request of its
    own: the longer one's prompt log-probs hold it. All share the first `start` tokens.
    """
    kept: list[list[int]] = []
    cover = [0] * len(sequences)
    for k in sorted(range(len(sequences)), key=lambda k: -len(sequences[k])):
        tail = sequences[k][start:]
        for j, longer in enumerate(kept):
            if longer[start:start + len(tail)] == tail:
                cover[k] = j
                break
        else:
            cover[k] = len(kept)
            kept.append(sequences[k])
    return kept, cover


def minimal_extensions(short: str, labels: Sequence[str]) -> list[str]:
    """The labels that extend `short` with no other label in between (`10`, not `100`, for
    `1` when `10` is listed): the answers that go on past `short` are exactly those that
    spell one of these, so their probabilities are disjoint and each is taken out once."""
    longer = [label for label in labels if label != short and label.startswith(short)]
    return [label for label in longer
            if not any(mid != label and label.startswith(mid) for mid in longer)]


def server_root(url: str) -> str:
    """Where vLLM serves `/tokenize`: the base URL without its `/v1`."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


async def generate_with_probs(backend: Any, requests: list[DecisionRequest],
                              on_result: ResultSink | None,
                              sampling: Mapping[str, float | int]) -> list[Completion]:
    """Answer a tick, score its answers' options, then report each completion (probabilities
    included, so a response cache stores them with the answer). `sampling`: the neutral
    sampling fields sent to vLLM with every request."""
    completions = await backend._run_batch(requests, None)
    if backend._scorer is None:
        backend._scorer = ServerScorer(backend, sampling)
    scorer = backend._scorer
    sent, started = scorer.sent, time.perf_counter()
    try:
        await scorer.attach(requests, completions)
    finally:
        if completions and scorer.sent > sent:  # the pass's cost, on the call's first answer
            completions[0].scoring_requests += scorer.sent - sent
            completions[0].scoring_s += time.perf_counter() - started
        if on_result is not None:
            for index, completion in enumerate(completions):
                on_result(index, completion)
    return completions


class ServerScorer:
    """Scores a tick's options through the backend's servers (see the module docstring)."""

    def __init__(self, backend: Any, sampling: Mapping[str, float | int]) -> None:
        self.backend = backend
        self.options = backend.options
        self.urls = list(backend.urls)
        self.router = backend.router  # scoring and answers share the replicas' counts
        self.sampling = dict(sampling)
        self.unsupported: str | None = None
        self.checked = False
        self.sent = 0  # HTTP requests sent (tokenize and scoring, every attempt)
        self._tokens: dict[str, list[int]] = {}
        self._clients: list[tuple[JsonClient, JsonClient]] = []
        self._limit = asyncio.Semaphore(self.options.max_concurrency * len(self.urls))

    async def close(self) -> None:
        """Close the scorer's HTTP clients."""
        for pair in self._clients:
            for client in pair:
                await client.close()
        self._clients = []

    def _open(self) -> None:
        if not self._clients:
            key, size = self.backend._secret, self.options.max_concurrency
            self._clients = [(JsonClient(url, key, connections=size),
                              JsonClient(server_root(url), key, connections=size))
                             for url in self.urls]

    # ------------------------------------------------------------------ one tick
    async def attach(self, requests: Sequence[DecisionRequest],
                     completions: list[Completion]) -> None:
        """Set `choice_probs` (or `choice_probs_error`) on every answered completion."""
        answered = [i for i, c in enumerate(completions) if c.failure is None]
        if not answered:
            return
        self._open()
        try:
            if not self.checked:
                await self._target_tokens(["Choice: 1"])  # one probe before the tick
                self.checked = True
            plans = await self._plans(requests, completions, answered)
            await self._score(plans, completions)
        except Unsupported as exc:
            self._disable(str(exc))
        except ScoringFailed as exc:  # a target text could not be tokenized
            for i in answered:
                if completions[i].choice_probs is None:
                    completions[i].choice_probs_error = str(exc)
        if self.unsupported is not None:
            for i in answered:
                if completions[i].choice_probs is None:
                    completions[i].choice_probs_error = self.unsupported

    def _disable(self, detail: str) -> None:
        if self.unsupported is None:
            print(f"warning: backend 'openai' ({', '.join(self.urls)}): choice_probs: exact "
                  "needs a vLLM server (its /tokenize endpoint and prompt_logprobs on "
                  f"/v1/completions), and this one refused them ({detail}); choice "
                  "probabilities stay null for this run (use choice_probs: top_logprobs "
                  "with this server)", file=sys.stderr)
        self.unsupported = f"server without exact scoring ({detail})"

    async def _plans(self, requests: Sequence[DecisionRequest], completions: list[Completion],
                     answered: list[int]) -> list[_Plan]:
        """Tokenize what each answered decision needs; one plan per decision that has one."""
        conditional = self.options.structured_output != "choice"
        texts: dict[int, tuple[str, str, list[str]]] = {}
        for i in answered:
            labels = option_labels(requests[i])
            if not conditional:
                texts[i] = ("", "", direct_targets(labels))
                continue
            text = completions[i].text or ""
            position = choice_position(text)
            if position is None:
                completions[i].choice_probs_error = "the answer has no choice position"
                continue
            cut = len(text[:position].rstrip())
            texts[i] = (text[:cut], text[cut:position],
                        [text[cut:position] + label for label in labels])
        rests = {label[len(short):] for i in texts for short in option_labels(requests[i])
                 for label in minimal_extensions(short, option_labels(requests[i]))}
        await self._target_tokens(sorted({t for _, _, ts in texts.values() for t in ts}
                                         | rests))
        rows = list(texts)
        prefixes = await asyncio.gather(*(self._prefix(requests[i], texts[i][0]) for i in rows),
                                        return_exceptions=True)
        plans = []
        for i, prefix in zip(rows, prefixes, strict=True):
            if isinstance(prefix, Unsupported):
                raise prefix
            if isinstance(prefix, BaseException):
                completions[i].choice_probs_error = str(prefix)
                continue
            plans.append(self._plan(i, prefix, option_labels(requests[i]), texts[i][2],
                                    DIRECT if not conditional else CONDITIONAL))
        return plans

    def _plan(self, row: int, prefix: list[int], labels: Sequence[str],
              targets: Sequence[str], kind: str) -> _Plan:
        sequences = [prefix + self._tokens[t] for t in targets]
        extensions = []
        for k, short in enumerate(labels):
            for longer in minimal_extensions(short, labels):
                extensions.append((k, len(sequences)))
                sequences.append(sequences[k] + self._tokens[longer[len(short):]])
        prompts, cover = covering(sequences, len(prefix))
        return _Plan(row, kind, len(prefix), sequences, extensions, prompts, cover)

    async def _prefix(self, request: DecisionRequest, answer_prefix: str) -> list[int]:
        """The token ids before the targets: the prompt, then the answer up to the choice."""
        if self.options.api == "chat":
            body: dict[str, Any] = {"messages": [dict(m) for m in request.messages],
                                    "add_generation_prompt": True}
        else:
            body = {"prompt": render_prompt(self.backend.tokenizer, request.messages),
                    "add_special_tokens": False}
        prompt = await self._tokenize(body)
        return prompt + (await self._tokenize({"prompt": answer_prefix,
                                               "add_special_tokens": False})
                         if answer_prefix else [])

    async def _target_tokens(self, texts: Sequence[str]) -> None:
        """Tokenize the texts not tokenized yet (memoised for the backend's life)."""
        todo = [t for t in texts if t not in self._tokens]
        found = await asyncio.gather(*(self._tokenize({"prompt": t, "add_special_tokens": False})
                                       for t in todo))
        self._tokens.update(zip(todo, found, strict=True))

    async def _tokenize(self, body: dict[str, Any]) -> list[int]:
        answer = await self._post(1, "/tokenize", {"model": self.backend.model, **body})
        tokens = answer.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise Unsupported("its /tokenize answer holds no token ids")
        return tokens

    # ------------------------------------------------------------------ scoring requests
    async def _score(self, plans: list[_Plan], completions: list[Completion]) -> None:
        """Send the plans in chunks; identical plans (replicates of one answer) go once."""
        unique: dict[tuple[Any, ...], _Plan] = {}
        copies: list[tuple[_Plan, _Plan]] = []
        for plan in plans:
            key = (plan.kind, plan.start, tuple(map(tuple, plan.prompts)))
            if key in unique:
                copies.append((plan, unique[key]))
            else:
                unique[key] = plan
        chunks: list[list[_Plan]] = []
        size = 0
        for plan in unique.values():
            if chunks and size + len(plan.prompts) <= self.options.prompts_per_request:
                chunks[-1].append(plan)
                size += len(plan.prompts)
            else:
                chunks.append([plan])
                size = len(plan.prompts)
        done = await asyncio.gather(*(self._score_chunk(c, completions) for c in chunks),
                                    return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome  # `Unsupported`; every other fault is recorded per decision
        for plan, scored in copies:
            source, target = completions[scored.row], completions[plan.row]
            target.choice_probs, target.choice_prob_mass = (source.choice_probs,
                                                            source.choice_prob_mass)
            target.choice_probs_kind = source.choice_probs_kind
            target.choice_probs_error = source.choice_probs_error

    async def _score_chunk(self, chunk: list[_Plan], completions: list[Completion]) -> None:
        prompts = [seq for plan in chunk for seq in plan.prompts]
        body: dict[str, Any] = {"model": self.backend.model, "prompt": prompts,
                                "max_tokens": 1, "temperature": 1.0, "top_p": 1.0, "n": 1,
                                "prompt_logprobs": 0, **self.sampling}
        try:
            answer = await self._post(0, "/completions", body)
            steps = read_prompt_logprobs(answer, prompts, [p.start for p in chunk
                                                            for _ in p.prompts])
        except Unsupported:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the decisions, never raised
            reason = str(exc) if isinstance(exc, ScoringFailed) else (
                f"scoring: unreadable response ({type(exc).__name__}: {exc})")
            for plan in chunk:
                completions[plan.row].choice_probs_error = one_line(reason, REASON_LIMIT)
            return
        at = 0
        for plan in chunk:
            held = steps[at:at + len(plan.prompts)]
            at += len(plan.prompts)
            values = [math.exp(sum(held[plan.cover[k]][:len(seq) - plan.start]))
                      for k, seq in enumerate(plan.sequences)]
            labels = len(plan.sequences) - len(plan.extensions)
            probs = values[:labels]
            for label, sequence in plan.extensions:
                probs[label] -= values[sequence]
            probs = [max(0.0, p) for p in probs]
            completion = completions[plan.row]
            completion.choice_probs = tuple(probs)
            completion.choice_prob_mass = float(sum(probs))
            completion.choice_probs_kind = plan.kind
            completion.choice_probs_error = None

    async def _post(self, which: int, path: str, body: dict[str, Any]) -> Any:
        """POST with the generation's retry rules; `Unsupported` / `ScoringFailed` when not."""
        timeout_s = self.options.timeout_s
        policy = self.backend.policy
        attempt = 0
        async with self._limit:
            while True:
                attempt += 1
                replica = self.router.acquire()
                self.sent += 1
                try:
                    async with asyncio.timeout(timeout_s):
                        return await self._clients[replica][which].post(path, body)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - classified, never propagated
                    if _refused(exc):
                        raise Unsupported(f"HTTP {exc.status} on {path}") from None
                    verdict = classify(exc, timeout_s)
                finally:
                    self.router.release(replica)
                if not verdict.retryable or attempt > policy.max_retries:
                    reason = verdict.reason if not verdict.retryable else (
                        f"gave up after {attempt} attempts: {verdict.reason}")
                    raise ScoringFailed(f"scoring {path}: {reason}")
                await asyncio.sleep(policy.delay(attempt, verdict.retry_after))


def _refused(exc: BaseException) -> bool:
    """An answer saying the endpoint or the field is not there (not a vLLM server)."""
    if not isinstance(exc, HTTPStatusError):
        return False
    return exc.status in UNSUPPORTED_STATUS or (
        exc.status in (400, 422) and "prompt_logprobs" in exc.message)


def read_prompt_logprobs(answer: Any, prompts: Sequence[Sequence[int]],
                         starts: Sequence[int]) -> list[list[float]]:
    """Per prompt, the returned log-probs of its tokens from `start` on, one per token.

    vLLM's `prompt_logprobs` is, per prompt position, a map from token id (a string in JSON)
    to `{"logprob": ...}` (None at position 0). Choices are matched by `index`. A response
    without the field means the server ignored it: `Unsupported`.
    """
    choices = answer.get("choices")
    by_index = {c.get("index"): c for c in choices or [] if isinstance(c, dict)}
    if set(by_index) != set(range(len(prompts))):
        raise ScoringFailed(f"scoring: {len(by_index)} choices for {len(prompts)} prompts")
    out = []
    for i, (prompt, start) in enumerate(zip(prompts, starts, strict=True)):
        entries = by_index[i].get("prompt_logprobs")
        if entries is None:
            raise Unsupported("its completions answer has no prompt_logprobs")
        logps = []
        for position in range(start, len(prompt)):
            entry = entries[position] if position < len(entries) else None
            value = (entry or {}).get(str(prompt[position]))
            if isinstance(value, dict):
                value = value.get("logprob")
            if not isinstance(value, int | float):
                raise ScoringFailed(f"scoring: no log-prob for prompt {i} at {position}")
            logps.append(float(value))
        out.append(logps)
    return out

