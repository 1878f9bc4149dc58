"""The production path: an OpenAI-compatible server (vLLM's `vllm serve`, or a hosted API).

One `generate` call sends the whole tick at once: every request goes out concurrently, up to
`max_concurrency` in flight per server URL, so a vLLM engine sees the tick as one big batch
and schedules it continuously. Several URLs are replicas: each request (and each retry) goes
to the replica with the fewest requests in flight.

Each request has its own timeout and retries (see `agents.backends.retry`), so one slow or
rate-limited request never holds back the others. A request whose retries run out comes back
as `Completion.failed(reason)`; nothing here raises for a single request.

Requests go out through a lean keep-alive client with orjson bodies
(`agents.backends.http_transport`: asyncio protocols and `httptools`; or
`agents.backends.http_client`: aiohttp) on an event loop owned by the backend, in a background
thread (uvloop's when it is installed); `generate` stays a plain blocking call, which also
works inside Jupyter, where an event loop is already running. Answers are read as plain JSON:
per request this costs a fraction of what the official `openai` client's typed models do.

Decisions share a request only where the answers stay those of one request per decision
(`agents.backends.request_groups`): on vLLM, decisions with an identical prompt and
consecutive seeds go as one request with `n` (vLLM seeds sample i with `seed + i`); with
`api: completions`, prompts that share sampling settings, seed and answer constraint travel
as one list (vLLM seeds every prompt of a list with the request's `seed`). Each answer is a
function of its own (prompt, seed), whichever other decisions share its request.

Every request body is built by `request_body`, one place for every field sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from agents.backends.base import ResultSink, require
from agents.backends.chat_template import load_tokenizer, prompt_format, render_prompt
from agents.backends.client_processes import ClientProcesses
from agents.backends.http_client import JsonClient
from agents.backends.http_transport import ProtocolClient
from agents.backends.http_transport import available as protocol_available
from agents.backends.openai_answers import (
    Answer,
    choices_by_index,
    read_chat_answers,
    read_completion_answers,
)
from agents.backends.openai_logprobs import (
    LogprobsReader,
    check_choice_probs,
    distribution_fields,
    logprobs_fields,
)
from agents.backends.options import BackendOptions
from agents.backends.request_groups import Job, check_samples, plan_jobs, share_request
from agents.backends.retry import RetryPolicy, Verdict, classify
from agents.backends.secrets import scrub_secret
from agents.errors import BackendCreationError
from agents.structured import (
    AnswerConstraint,
    answer_constraint,
    openai_response_format,
    vllm_structured_outputs,
)
from agents.types import Completion, DecisionRequest

T = TypeVar("T")

NEUTRAL_SAMPLING: dict[str, float | int] = {
    "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
"""Sampling fields tinmen sends explicitly to vLLM (server and in process) besides
temperature, top-p and max tokens: vLLM's neutral values, so that a `vllm serve` never fills
them from the model's `generation_config.json` and both vLLM paths sample alike."""

SAMPLING_DEFAULTS = "explicit: temperature, top_p, max tokens from the scenario; " + ", ".join(
    f"{k}={v}" for k, v in NEUTRAL_SAMPLING.items())
"""How sampling fields are chosen, as recorded in the run manifest."""


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


async def _cancel_pending() -> None:
    """Cancel every other task on the running loop and wait until they have finished, so
    that stopping the loop leaves none pending (asyncio warns about such tasks at exit)."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class EventLoopThread:
    """An asyncio loop running forever in a daemon thread; `run` blocks on one coroutine."""

    def __init__(self, name: str = "tinmen-openai") -> None:
        try:
            import uvloop

            self.loop = uvloop.new_event_loop()
        except ImportError:
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
        if self._thread.is_alive():  # an interrupted tick may leave tasks still cancelling
            try:
                asyncio.run_coroutine_threadsafe(_cancel_pending(), self.loop).result(10)
            except (Exception, KeyboardInterrupt):  # closing goes on regardless
                pass
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


_KEY_LIKE = re.compile(r"\b(sk|key|api[-_]?key)[-_](?=[A-Za-z._-]*[0-9*])[A-Za-z0-9*._-]{4,}",
                       re.IGNORECASE)  # key-shaped tokens hold a digit or a mask: not "key-value"


def scrub_secrets(text: str, secret: str | None) -> str:
    """Remove the API key, and anything shaped like one (servers quote masked keys in 401
    messages, e.g. 'sk-ab***wxyz'), from text that will be written to records."""
    return _KEY_LIKE.sub("***", scrub_secret(text, secret))


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
        require("aiohttp", "openai")
        self.model = model
        self.options = options or BackendOptions()
        check_choice_probs(self.options)
        check_samples(self.options)
        self.urls = self.options.urls()
        key = api_key if api_key is not None else read_api_key(self.options.api_key_env)
        self._secret = key
        self.policy = RetryPolicy(self.options.max_retries, self.options.backoff_s)
        self.router = LeastOutstandingRouter(len(self.urls))
        self._logprobs = LogprobsReader(self.options, self.urls)
        self.tokenizer: Any = None
        self.prompt_format = "server_chat_template"
        if self.options.api == "completions":
            self.tokenizer = load_tokenizer(self.options.tokenizer or model,
                                            self.options.revision)
            self.prompt_format = prompt_format(self.tokenizer)
        self._runner = EventLoopThread()
        self._key = key
        self._clients: list[JsonClient | ProtocolClient] = []
        self._scorer: Any = None  # `server_scoring.ServerScorer`, with choice_probs: exact
        self._processes = (ClientProcesses(self.options.client_processes, type(self), model,
                                           self.options, key)
                           if self.options.client_processes > 1 else None)
        self.http_client = self.options.http_client
        if self.http_client == "auto":
            fast = self.options.server == "vllm" and protocol_available()
            self.http_client = "protocol" if fast else "aiohttp"
        elif self.http_client == "protocol":
            require("httptools", "openai")

    async def _open_clients(self) -> list[JsonClient | ProtocolClient]:
        """One keep-alive pool per URL, created on the backend's loop at first use."""
        if not self._clients:
            hosted = self.options.server == "openai"  # may sit behind an HTTP proxy
            connections = self.options.max_concurrency
            if self.http_client == "protocol":
                self._clients = [ProtocolClient(url, self._key, connections=connections)
                                 for url in self.urls]
            else:
                self._clients = [JsonClient(url, self._key, connections=connections,
                                            trust_env=hosted) for url in self.urls]
        return self._clients

    # ------------------------------------------------------------------ protocol
    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer every request; all are in flight together, up to the concurrency limit."""
        return self.generate_streaming(requests, None)

    def generate_streaming(self, requests: Sequence[DecisionRequest],
                           on_result: ResultSink | None) -> list[Completion]:
        """`generate`, calling `on_result(index, completion)` as each answer arrives."""
        if not requests:
            return []
        if self.options.choice_probs == "exact":  # a scoring pass after the answers
            from agents.backends.server_scoring import generate_with_probs

            return self._runner.run(generate_with_probs(self, list(requests), on_result,
                                                        NEUTRAL_SAMPLING))
        if self._processes is not None:
            requests = list(requests)
            results: list[Completion | None] = [None] * len(requests)
            self._processes.run(requests, self._jobs(requests), results, on_result)
            return [r if r is not None else Completion.failed("not answered") for r in results]
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
            "http_client": self.http_client,
            "samples_per_request": self.options.samples_per_request,
            "max_concurrency": self.options.max_concurrency,
            "timeout_s": self.options.timeout_s,
            "max_retries": self.options.max_retries,
            "sampling_defaults": (SAMPLING_DEFAULTS if self.options.server == "vllm"
                                  else "explicit: temperature, top_p, max tokens; the rest "
                                  "the server's"),
            "add_special_tokens": False if self.options.api == "completions" else None,
            "client_processes": self.options.client_processes,
            "requests_per_replica": list(self._processes.served or [0] * len(self.urls)
                                         if self._processes else self.router.served),
        }

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop."""
        if self._processes is not None:
            self._processes.close()
        if self._runner.loop.is_closed():
            return

        async def close_all() -> None:
            await _cancel_pending()  # the tasks of an interrupted tick go first
            for client in self._clients:
                await client.close()
            if self._scorer is not None:
                await self._scorer.close()

        try:
            self._runner.run(close_all())
        finally:
            self._runner.close()

    # ------------------------------------------------------------------ one tick
    async def _run_batch(self, requests: list[DecisionRequest],
                         on_result: ResultSink | None) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)

        def sink(job: Job, answers: list[Completion]) -> None:
            for i, completion in zip(job.indices, answers, strict=True):
                results[i] = completion
                if on_result is not None:
                    on_result(i, completion)

        await self.run_jobs(requests, self._jobs(requests), sink)
        return [r if r is not None else Completion.failed("not answered") for r in results]

    async def run_jobs(self, requests: Sequence[DecisionRequest], jobs: Sequence[Job],
                       on_job: Callable[[Job, list[Completion]], None]) -> None:
        """Send every job, up to the concurrency limit at once, each with its own retries;
        `on_job(job, completions)` as each one is answered (or has failed for good)."""
        await self._open_clients()
        queue = iter(jobs)

        async def worker() -> None:
            for job in queue:  # the iterator is shared: each job goes to one worker
                on_job(job, await self._run_job([requests[i] for i in job.indices], job.n))

        workers = self.options.max_concurrency * len(self.urls)
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(workers, len(jobs))):
                    group.create_task(worker())
        except BaseExceptionGroup as grouped:  # surface the first real error as itself
            raise grouped.exceptions[0] from None

    def _jobs(self, requests: list[DecisionRequest]) -> list[Job]:
        """The HTTP requests of a tick (see `agents.backends.request_groups`): samples of one
        prompt share a request only on vLLM (`check_samples` refuses them elsewhere)."""
        return plan_jobs(requests, lists=self.options.api == "completions",
                         prompts_per_request=self.options.prompts_per_request,
                         samples_per_request=self.options.samples_per_request,
                         constraint_key=self._constraint_key)

    def _constraint_key(self, request: DecisionRequest) -> Any:
        constraint = self._constraint(request)
        return constraint.key() if constraint else None

    def _constraint(self, request: DecisionRequest) -> AnswerConstraint | None:
        return answer_constraint(request, self.options.structured_output,
                                 self.options.explanation_max_chars)

    async def _run_job(self, job: list[DecisionRequest], n: int = 1) -> list[Completion]:
        """Send one HTTP request (with retries) for `job` (its decisions in choice order, `n`
        samples per prompt); one completion per decision."""
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            replica = self.router.acquire()
            try:
                async with asyncio.timeout(self.options.timeout_s):
                    answers = await self._send(self._clients[replica], job, n)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below, never propagated
                verdict = classify(exc, self.options.timeout_s)
            else:
                latency = (time.perf_counter() - started) * 1000
                return share_request([
                    Completion(text=scrub_secret(a.text, self._secret), latency_ms=latency,
                               prompt_tokens=a.prompt_tokens,
                               completion_tokens=a.completion_tokens, attempts=attempt,
                               retries=attempt - 1, finish_reason=a.finish_reason,
                               **distribution_fields(a.distribution)) for a in answers])
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
        return share_request([Completion.failed(reason, latency_ms=latency, attempts=attempts,
                                                retries=attempts - 1) for _ in job])

    # ------------------------------------------------------------------ one HTTP request
    def request_body(self, job: Sequence[DecisionRequest], n: int = 1) -> dict[str, Any]:
        """The whole JSON body of one request for `job` (one decision for chat, a list of
        prompts sharing sampling settings, seed and constraint for completions), each prompt
        sampled `n` times (seeds `seed` to `seed + n - 1`, see `request_groups`).

        Every field sent is set here: the prompt, sampling (explicit on vLLM, see
        `NEUTRAL_SAMPLING`), seed, token limit, structured output and tokenization.
        """
        first = job[0]
        s = first.sampling
        body: dict[str, Any] = {"model": self.model}
        if self.options.api == "chat":
            body["messages"] = [dict(m) for m in first.messages]
            body["max_completion_tokens"] = s.max_tokens  # vLLM accepts it since 0.11
        else:
            body["prompt"] = [render_prompt(self.tokenizer, r.messages) for r in job]
            body["max_tokens"] = s.max_tokens
        if (len(job) > 1 or n > 1) and self.options.server == "vllm":
            body["return_token_ids"] = True  # per-choice token counts (vLLM 0.10.2+)
        body.update(temperature=s.temperature, top_p=s.top_p, seed=first.seed, n=n)
        if self.options.server == "vllm":
            body.update(NEUTRAL_SAMPLING)
            if self.options.api == "completions":
                # the chat template already wrote any BOS; vLLM's chat paths do the same
                body["add_special_tokens"] = False
        constraint = self._constraint(first)
        if constraint is not None:
            if self.options.server == "openai":
                body["response_format"] = openai_response_format(constraint)
            else:
                body["structured_outputs"] = vllm_structured_outputs(constraint)
        body.update(logprobs_fields(self.options))
        return body

    async def _send(self, client: JsonClient | ProtocolClient, job: list[DecisionRequest],
                    n: int = 1) -> list[Answer]:
        firsts = job[::n]
        body = self.request_body(firsts, n)
        if self.options.api == "chat":
            response = await client.post("/chat/completions", body)
            answers = read_chat_answers(response, n)
        else:
            response = await client.post("/completions", body)
            answers = read_completion_answers(response, body["prompt"], self.tokenizer, n)
        if self.options.choice_probs == "off":
            return answers
        return self._with_distributions(response, answers, job)

    def _with_distributions(self, response: dict[str, Any], answers: list[Answer],
                            job: list[DecisionRequest]) -> list[Answer]:
        """The answers with the choice probabilities their own choice's log-probs give (each
        choice carries its own; choices are matched by `index`)."""
        choices = choices_by_index(response, len(job))
        return [dataclasses.replace(answer, distribution=self._logprobs.read(
                    choice, answer.text, request))
                for answer, choice, request in zip(answers, choices, job, strict=True)]
