"""The production path: an OpenAI-compatible server (vLLM's `vllm serve`, or a hosted API).

One `generate` call sends the whole tick at once: every request goes out concurrently, up to
`max_concurrency` in flight per server URL, so a vLLM engine sees the tick as one big batch
and schedules it continuously. Several URLs are replicas: each request (and each retry) goes
to the replica with the fewest requests in flight.

Each request has its own timeout and retries (see `agents.backends.retry`), so one slow or
rate-limited request never holds back the others. A request whose retries run out comes back
as `Completion.failed(reason)`; nothing here raises for a single request.

The official `openai` async client runs on an event loop owned by the backend, in a
background thread; `generate` stays a plain blocking call, which also works inside Jupyter,
where an event loop is already running.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agents.backends.base import BackendCreationError, ResultSink
from agents.backends.chat_template import (
    count_tokens,
    load_tokenizer,
    prompt_format,
    render_prompt,
)
from agents.backends.openai_logprobs import (
    Distribution,
    check_choice_probs,
    distribution_fields,
    logprobs_fields,
    read_distribution,
)
from agents.backends.options import BackendOptions
from agents.backends.retry import RetryPolicy, UnreadableResponse, Verdict, classify
from agents.structured import (
    AnswerConstraint,
    answer_constraint,
    openai_response_format,
    vllm_structured_outputs,
)
from agents.types import Completion, DecisionRequest

T = TypeVar("T")

CONNECTIONS_PER_CLIENT = 64
"""Most requests in flight through one `AsyncOpenAI` client (see `OpenAIBackend`)."""

NO_KEY = "EMPTY"
"""What the client sends when no key is configured (a local `vllm serve` accepts anything)."""


def read_api_key(env_name: str | None) -> str | None:
    """The key held by environment variable `env_name`; one-line error when it is unset."""
    if env_name is None:
        return None
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise BackendCreationError(
            f"api_key_env: the environment variable {env_name} is not set or empty; export "
            f"{env_name}=<your key> before running (tinmen never writes the key anywhere)"
        )
    return value


class EventLoopThread:
    """An asyncio loop running forever in a daemon thread; `run` blocks on one coroutine."""

    def __init__(self, name: str = "tinmen-openai") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait; an interrupt here cancels it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop the loop and join its thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class LeastOutstandingRouter:
    """Picks the replica with the fewest requests in flight (ties: round robin)."""

    def __init__(self, size: int) -> None:
        self.outstanding = [0] * size
        self.served = [0] * size
        self._next = 0

    def acquire(self) -> int:
        """Choose a replica for one attempt and count it as in flight."""
        size = len(self.outstanding)
        best = min(range(size),
                   key=lambda i: (self.outstanding[i], (i - self._next) % size))
        self.outstanding[best] += 1
        self.served[best] += 1
        self._next = (best + 1) % size
        return best

    def release(self, replica: int) -> None:
        """The attempt on `replica` is over."""
        self.outstanding[replica] -= 1


@dataclass(frozen=True, slots=True)
class _Answer:
    """One answer as read from a response."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    distribution: Distribution | None = None


_KEY_LIKE = re.compile(r"\b(sk|key|api[-_]?key)[-_](?=[A-Za-z._-]*[0-9*])[A-Za-z0-9*._-]{4,}",
                       re.IGNORECASE)  # key-shaped tokens hold a digit or a mask: not "key-value"


def scrub_secrets(text: str, secret: str | None) -> str:
    """Remove the API key, and anything shaped like one (servers quote masked keys in 401
    messages, e.g. 'sk-ab***wxyz'), from text that will be written to records."""
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("***", text)


class OpenAIBackend:
    """Answers through OpenAI-compatible HTTP servers; see the module docstring."""

    name = "openai"
    cacheable = True

    def __init__(self, model: str | None = None, *, options: BackendOptions | None = None,
                 api_key: str | None = None) -> None:
        if not model:
            raise BackendCreationError(
                "backend 'openai' needs a model: the name the server serves, via --model NAME "
                "or agents[].model (e.g. Qwen/Qwen2.5-7B-Instruct)"
            )
        import openai
        from openai.types import Completion as TextCompletion
        from openai.types.chat import ChatCompletion

        self._response_types = (ChatCompletion, TextCompletion)
        self.model = model
        self.options = options or BackendOptions()
        check_choice_probs(self.options)
        self.urls = self.options.urls()
        key = api_key if api_key is not None else read_api_key(self.options.api_key_env)
        self._secret = key
        self.policy = RetryPolicy(self.options.max_retries, self.options.backoff_s)
        self.router = LeastOutstandingRouter(len(self.urls))
        self.tokenizer: Any = None
        self.prompt_format = "server_chat_template"
        if self.options.api == "completions":
            self.tokenizer = load_tokenizer(self.options.tokenizer or model,
                                            self.options.revision)
            self.prompt_format = prompt_format(self.tokenizer)
        self._runner = EventLoopThread()
        # Several clients per URL, each with at most CONNECTIONS_PER_CLIENT requests in
        # flight: every connection stays in its client's keep-alive pool, and the pool's
        # per-request bookkeeping (linear in its size) stays small.
        shards = math.ceil(self.options.max_concurrency / CONNECTIONS_PER_CLIENT)
        self._clients = [
            [openai.AsyncOpenAI(base_url=url, api_key=key or NO_KEY, max_retries=0,
                                timeout=self.options.timeout_s) for _ in range(shards)]
            for url in self.urls
        ]

    # ------------------------------------------------------------------ protocol
    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer every request; all are in flight together, up to the concurrency limit."""
        return self.generate_streaming(requests, None)

    def generate_streaming(self, requests: Sequence[DecisionRequest],
                           on_result: ResultSink | None) -> list[Completion]:
        """`generate`, calling `on_result(index, completion)` as each answer arrives."""
        if not requests:
            return []
        return self._runner.run(self._run_batch(list(requests), on_result))

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest (the key itself is never included)."""
        return {
            "base_urls": list(self.urls),
            "api_key_env": self.options.api_key_env,
            "server": self.options.server,
            "api": self.options.api,
            "prompt_format": self.prompt_format,
            "structured_output": self.options.structured_output,
            "max_concurrency": self.options.max_concurrency,
            "timeout_s": self.options.timeout_s,
            "max_retries": self.options.max_retries,
            "requests_per_replica": list(self.router.served),
        }

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop."""
        if self._runner.loop.is_closed():
            return

        async def close_all() -> None:
            for shards in self._clients:
                for client in shards:
                    await client.close()

        try:
            self._runner.run(close_all())
        finally:
            self._runner.close()

    # ------------------------------------------------------------------ one tick
    async def _run_batch(self, requests: list[DecisionRequest],
                         on_result: ResultSink | None) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        jobs = iter(self._jobs(requests))

        async def worker(number: int) -> None:
            for job in jobs:  # the iterator is shared: each job goes to one worker
                answers = await self._run_job([requests[i] for i in job], number)
                for i, completion in zip(job, answers, strict=True):
                    results[i] = completion
                    if on_result is not None:
                        on_result(i, completion)

        workers = self.options.max_concurrency * len(self.urls)
        try:
            async with asyncio.TaskGroup() as group:
                for number in range(min(workers, len(requests))):
                    group.create_task(worker(number))
        except BaseExceptionGroup as grouped:  # surface the first real error as itself
            raise grouped.exceptions[0] from None
        return [r if r is not None else Completion.failed("not answered") for r in results]

    def _jobs(self, requests: list[DecisionRequest]) -> list[list[int]]:
        """Indices sent together: one per request for chat; shared-setting lists otherwise."""
        if self.options.api == "chat":
            return [[i] for i in range(len(requests))]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, r in enumerate(requests):
            constraint = self._constraint(r)
            key = (r.sampling, r.seed, constraint.key() if constraint else None)
            groups.setdefault(key, []).append(i)
        size = self.options.prompts_per_request
        return [group[start:start + size] for group in groups.values()
                for start in range(0, len(group), size)]

    def _constraint(self, request: DecisionRequest) -> AnswerConstraint | None:
        return answer_constraint(request, self.options.structured_output,
                                 self.options.explanation_max_chars)

    async def _run_job(self, job: list[DecisionRequest], worker: int) -> list[Completion]:
        """Send one HTTP request (with retries) for `job`; one completion per request."""
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            replica = self.router.acquire()
            shards = self._clients[replica]
            try:
                async with asyncio.timeout(self.options.timeout_s):
                    answers = await self._send(shards[worker % len(shards)], job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below, never propagated
                verdict = classify(exc, self.options.timeout_s)
            else:
                latency = (time.perf_counter() - started) * 1000
                return [Completion(text=a.text, latency_ms=latency,
                                   prompt_tokens=a.prompt_tokens,
                                   completion_tokens=a.completion_tokens, attempts=attempt,
                                   retries=attempt - 1, finish_reason=a.finish_reason,
                                   **distribution_fields(a.distribution))
                        for a in answers]
            finally:
                self.router.release(replica)
            if not verdict.retryable or attempt > self.policy.max_retries:
                return self._failed(job, verdict, attempt, started)
            await asyncio.sleep(self.policy.delay(attempt, verdict.retry_after))

    def _failed(self, job: list[DecisionRequest], verdict: Verdict, attempts: int,
                started: float) -> list[Completion]:
        reason = verdict.reason
        if verdict.retryable:
            reason = f"gave up after {attempts} attempts: {reason}"
        reason = scrub_secrets(reason, self._secret)
        latency = (time.perf_counter() - started) * 1000
        return [Completion.failed(reason, latency_ms=latency, attempts=attempts,
                                  retries=attempts - 1) for _ in job]

    # ------------------------------------------------------------------ one HTTP request
    def _body(self, request: DecisionRequest) -> dict[str, Any]:
        """Sampling, seed and structured output of a request body, shared by both APIs."""
        s = request.sampling
        body: dict[str, Any] = {"model": self.model, "temperature": s.temperature,
                                "top_p": s.top_p, "seed": request.seed, "n": 1}
        if self.options.server == "openai" and self.options.api == "chat":
            body["max_completion_tokens"] = s.max_tokens
        else:
            body["max_tokens"] = s.max_tokens
        constraint = self._constraint(request)
        if constraint is not None:
            if self.options.server == "openai":
                body["response_format"] = openai_response_format(constraint)
            else:
                body["structured_outputs"] = vllm_structured_outputs(constraint)
        body.update(logprobs_fields(self.options))
        return body

    async def _send(self, client: Any, job: list[DecisionRequest]) -> list[_Answer]:
        if self.options.api == "chat":
            return [await self._send_chat(client, job[0])]
        return await self._send_completions(client, job)

    async def _send_chat(self, client: Any, request: DecisionRequest) -> _Answer:
        # `post` is the client's documented call for a raw body: it skips the per-call
        # walk over typed parameters, which costs more CPU than the request itself here.
        body = {"messages": [dict(m) for m in request.messages], **self._body(request)}
        response = await client.post("/chat/completions", body=body,
                                     cast_to=self._response_types[0])
        choices = getattr(response, "choices", None)
        if not choices:
            raise UnreadableResponse("no choices in the response")
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if text is None:
            text = getattr(message, "refusal", None)  # OpenAI's own refusal field
        if text is None:
            raise UnreadableResponse("the response holds no answer text")
        usage = getattr(response, "usage", None)
        return _Answer(text, getattr(usage, "prompt_tokens", None),
                       getattr(usage, "completion_tokens", None),
                       getattr(choices[0], "finish_reason", None),
                       read_distribution(choices[0], text, request, self.options))

    async def _send_completions(self, client: Any, job: list[DecisionRequest]) -> list[_Answer]:
        prompts = [render_prompt(self.tokenizer, r.messages) for r in job]
        response = await client.post("/completions", body={"prompt": prompts,
                                                           **self._body(job[0])},
                                     cast_to=self._response_types[1])
        choices = getattr(response, "choices", None) or []
        by_index = {getattr(c, "index", None): c for c in choices}
        if len(choices) != len(prompts) or set(by_index) != set(range(len(prompts))):
            raise UnreadableResponse(f"{len(choices)} choices for {len(prompts)} prompts")
        usage = getattr(response, "usage", None)
        answers = []
        for i, prompt in enumerate(prompts):
            choice = by_index[i]
            text = getattr(choice, "text", None)
            if text is None:
                raise UnreadableResponse(f"choice {i} holds no text")
            if len(prompts) == 1:  # the server's own count
                tokens = (getattr(usage, "prompt_tokens", None),
                          getattr(usage, "completion_tokens", None))
            else:  # usage covers the whole list: count each prompt locally
                tokens = (count_tokens(self.tokenizer, prompt),
                          count_tokens(self.tokenizer, text))
            answers.append(_Answer(text, tokens[0], tokens[1],
                                   getattr(choice, "finish_reason", None),
                                   read_distribution(choice, text, job[i], self.options)))
        return answers
