"""A fake OpenAI-compatible server on 127.0.0.1, for tests, benchmarks and offline dry runs.

It speaks enough of the protocol for tinmen's `openai` backend (`/v1/chat/completions`,
`/v1/completions`, `/v1/models`), answers like a shopping agent would, and can

- take a fixed time per request and serve a fixed number of requests at once (`latency_s`,
  `slots`), like an inference engine with a fixed batch capacity;
- inject faults per request (`fault`): `429` (optionally `429:<retry-after seconds>`),
  any other status such as `500` or `400`, `slow:<seconds>`, `drop` (close the connection
  without answering),
  `broken` (a 200 whose body is cut-off JSON), `nochoices` (a 200 without `choices`),
  `badutf8` (a 200 whose JSON holds bytes that are not UTF-8) and `latin1` (a 200 answer
  encoded in Latin-1, not UTF-8);
- record every request: arrival and end times, the body, how many were in flight;
- return per-token log-probs with their top-k alternatives (`logprobs`) when a request asks
  for them (`logprobs` + `top_logprobs` for chat, `logprobs: k` for completions);
- with a `toy_lm` (`agents.toy_lm.ToyLM`), behave like vLLM where tinmen scores options:
  `POST /tokenize` (a text `prompt` or chat `messages`) and `/v1/completions` with
  token-id prompts, answering one greedy token and, with `prompt_logprobs`, each prompt
  token's own log-prob under the toy model; answers asked for `logprobs` get the toy
  model's log-probs of their tokens (unless a `logprobs` function is given). Without one
  `/tokenize` is a 404, as on a hosted API.

Run it by hand to try a scenario's HTTP path without a GPU:

    python -m agents.fake_server --port 8000 --latency-ms 50 --slots 64
    python -m agents.fake_server --port 8000 --toy-lm    # also choice_probs (exact, top_logprobs)

It needs `aiohttp` (in the `test` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Fault = Callable[[dict[str, Any], int], "str | None"]
"""(request body, arrival index) -> a fault name, or None to answer normally."""

Answer = Callable[[dict[str, Any], str], str]
"""(request body, prompt text) -> the answer text."""

TokenLogprobs = list[tuple[str, float, list[tuple[str, float]]]]
"""Per answer token: its text, its log-prob, and the alternatives (best first)."""

Logprobs = Callable[[dict[str, Any], str, str], TokenLogprobs]
"""(request body, prompt text, answer text) -> the answer's tokens with their log-probs."""


def logprobs_body(tokens: TokenLogprobs, k: int, chat: bool) -> dict[str, Any]:
    """The `logprobs` object of a response choice, keeping the top `k` alternatives."""
    if chat:
        return {"content": [
            {"token": t, "logprob": lp, "bytes": None,
             "top_logprobs": [{"token": a, "logprob": v, "bytes": None} for a, v in top[:k]]}
            for t, lp, top in tokens]}
    offsets, at = [], 0
    for t, _, _ in tokens:
        offsets.append(at)
        at += len(t)
    return {"tokens": [t for t, _, _ in tokens], "token_logprobs": [lp for _, lp, _ in tokens],
            "top_logprobs": [dict(top[:k]) for _, _, top in tokens], "text_offset": offsets}

_LISTING_LINE = re.compile(r"^(\d+): ", re.MULTILINE)


@dataclass
class Arrival:
    """One request as the server saw it."""

    index: int
    path: str
    body: dict[str, Any]
    arrived: float
    in_flight: int
    port: int
    authorization: str | None = None
    fault: str | None = None
    finished: float | None = None


def prompt_text(body: dict[str, Any]) -> str:
    """The text of a request: chat messages joined, or the completion prompt(s)."""
    if "messages" in body:
        return "\n".join(str(m.get("content", "")) for m in body["messages"])
    prompt = body.get("prompt", "")
    return "\n".join(prompt) if isinstance(prompt, list) else str(prompt)


def default_answer(body: dict[str, Any], prompt: str) -> str:
    """A deterministic agent: picks a listed product from a hash of prompt and seed.

    It honours vLLM's `structured_outputs` (choice / regex / json) and OpenAI's
    `response_format`, and otherwise ends with a `Choice: <n>` line.
    """
    numbers = _LISTING_LINE.findall(prompt) or ["1"]
    digest = hashlib.sha256(f"{body.get('seed')}|{prompt}".encode()).digest()
    number = numbers[digest[0] % len(numbers)]
    structured = body.get("structured_outputs") or {}
    if "choice" in structured:
        return structured["choice"][digest[0] % len(structured["choice"])]
    explanation = f"Option {number} suits the customer's request best."
    wants_json = "json" in structured or (body.get("response_format") or {}).get(
        "type") == "json_schema"
    if wants_json:
        return json.dumps({"explanation": explanation, "choice": number})
    return f"{explanation}\nChoice: {number}"


def _token_prompts(prompt: Any) -> bool:
    """Whether a completions `prompt` is token ids (one list of ints, or a list of them)."""
    if not isinstance(prompt, list) or not prompt:
        return False
    first = prompt[0]
    return isinstance(first, int) or (isinstance(first, list) and bool(first)
                                      and isinstance(first[0], int))


def sample_bodies(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The body each of a request's `n` samples is answered as: vLLM's seed rule, sample i
    with `seed + i` (`vllm/v1/engine/parallel_sampling.py`), so sample i of (prompt, seed s,
    n) is the answer of the single request (prompt, seed s + i)."""
    n = body.get("n") or 1
    if n == 1:
        return [body]
    seed = body.get("seed")
    return [{**body, "n": 1, "seed": None if seed is None else seed + i} for i in range(n)]


def _words(text: str) -> int:
    return len(text.split())


@dataclass
class FakeOpenAIServer:
    """The server; use as a context manager, or `start()` / `stop()`."""

    latency_s: float = 0.0
    slots: int | None = None
    fault: Fault | None = None
    answer: Answer = default_answer
    logprobs: Logprobs | None = None
    host: str = "127.0.0.1"
    port: int = 0
    models: tuple[str, ...] = ()
    """Names `/v1/models` lists; none by default, so any model name is accepted."""
    arrivals: list[Arrival] = field(default_factory=list)
    max_in_flight: int = 0
    reverse_choices: bool = False
    """List the choices of an answer last to first (each keeps its `index`)."""
    toy_lm: Any = None
    """An `agents.toy_lm.ToyLM`: serve `/tokenize` and token-id prompts (see the docstring)."""

    def __post_init__(self) -> None:
        self._in_flight = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._started_at = time.perf_counter()
        self._runner: Any = None
        self._slots: asyncio.Semaphore | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        """The URL to give the openai backend."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Start serving on a background thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._serve, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self.arrivals.clear()
            self.max_in_flight = 0

    def requests_to(self, path_suffix: str = "completions") -> list[Arrival]:
        """Recorded requests whose path ends with `path_suffix`."""
        with self._lock:
            return [a for a in self.arrivals if a.path.endswith(path_suffix)]

    def _serve(self) -> None:
        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._slots = asyncio.Semaphore(self.slots) if self.slots else None
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/v1/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        if self.toy_lm is not None:
            app.router.add_post("/tokenize", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    # ------------------------------------------------------------------ handlers
    async def _models(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model"} for name in self.models]})

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            arrival = Arrival(len(self.arrivals), request.path, body,
                              time.perf_counter() - self._started_at, self._in_flight,
                              self.port, request.headers.get("Authorization"))
            self.arrivals.append(arrival)
        try:
            fault = self.fault(body, arrival.index) if self.fault else None
            arrival.fault = fault
            if fault is not None:
                response = await self._faulty(request, fault)
                if response is not None:
                    return response
            answer = await self._complete(request.path, body)
            if "prompt_logprobs" in body:  # large scoring bodies: orjson when installed
                from agents.backends.http_client import dumps

                return web.json_response(answer, dumps=lambda v: dumps(v).decode())
            return web.json_response(answer)
        finally:
            with self._lock:
                self._in_flight -= 1
                arrival.finished = time.perf_counter() - self._started_at

    async def _faulty(self, request: Any, fault: str) -> Any:
        from aiohttp import web

        name, _, arg = fault.partition(":")
        if name == "429":
            headers = {"retry-after": arg} if arg else {}
            return web.json_response({"error": {"message": "rate limited", "type": "rate"}},
                                     status=429, headers=headers)
        if name.isdigit():
            return web.json_response({"error": {"message": f"fault {name}", "type": "fault"}},
                                     status=int(name))
        if name == "slow":
            await asyncio.sleep(float(arg or 5))
            return None
        if name == "drop":
            request.transport.close()
            raise asyncio.CancelledError
        if name == "broken":
            return web.Response(text='{"id": "x", "choices": [{"index": 0, "mess',
                                content_type="application/json")
        if name in ("badutf8", "latin1"):
            answer = await self._complete(request.path, await request.json())
            answer["id"] = "r\u00e9ponse"  # a non-ASCII character, in Latin-1: byte 0xe9
            text = json.dumps(answer, ensure_ascii=False)
            raw = (text.encode("latin-1", "replace") if name == "latin1"
                   else text.encode().replace(b"r\xc3\xa9ponse", b"r\xff\xfeponse"))
            return web.Response(body=raw, content_type="application/json")
        if name == "nochoices":
            return web.json_response({"id": "x", "object": "chat.completion"})
        raise ValueError(f"unknown fault {fault!r}")

    async def _complete(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("/tokenize"):
            return self._tokenize(body)
        if self.toy_lm is not None and _token_prompts(body.get("prompt")):
            return await self._score_tokens(body)
        if path.endswith("chat/completions"):
            prompts = [prompt_text(body)]
        else:
            raw = body.get("prompt", "")
            prompts = list(raw) if isinstance(raw, list) else [str(raw)]
        samples = sample_bodies(body)
        # choice i answers prompt i // n with sample i % n (vLLM's prompt-major numbering)
        asked = [(one, p) for p in prompts for one in samples]
        texts = await asyncio.gather(*(self._one(one, p) for one, p in asked))
        usage = {"prompt_tokens": sum(_words(p) for p in prompts),  # once per prompt, as vLLM
                 "completion_tokens": sum(_words(t) for t in texts)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        chat = path.endswith("chat/completions")
        if chat:
            choices = [{"index": i, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": t}}
                       for i, t in enumerate(texts)]
            kind = "chat.completion"
        else:
            choices = [{"index": i, "finish_reason": "stop", "text": t}
                       for i, t in enumerate(texts)]
            kind = "text_completion"
        if body.get("return_token_ids"):  # vLLM's per-choice token ids (here: words)
            for choice, (_, p), t in zip(choices, asked, texts, strict=True):
                if not chat:
                    choice["prompt_token_ids"] = list(range(_words(p)))
                choice["token_ids"] = list(range(_words(t)))
        wanted = body.get("top_logprobs") if chat and body.get("logprobs") else (
            body.get("logprobs") if not chat else None)
        if isinstance(wanted, int) and wanted is not True and (
                self.logprobs is not None or self.toy_lm is not None):
            for choice, (one, prompt), text in zip(choices, asked, texts, strict=True):
                tokens = (self.logprobs(one, prompt, text) if self.logprobs is not None
                          else self._toy_logprobs(one, text, wanted))
                choice["logprobs"] = logprobs_body(tokens, wanted, chat)
        if self.reverse_choices:
            choices.reverse()
        return {"id": "fake", "object": kind, "created": int(time.time()),
                "model": body.get("model", "fake"), "choices": choices, "usage": usage}

    def _toy_logprobs(self, body: dict[str, Any], text: str, k: int) -> TokenLogprobs:
        """The toy model's log-probs of an answer after the request's prompt."""
        from agents.toy_lm import answer_logprobs

        lm = self.toy_lm
        prompt = (lm.render_chat(body["messages"]) if "messages" in body
                  else str(body.get("prompt", "")))
        return answer_logprobs(lm, lm.encode(prompt), text, k)

    def _tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        lm = self.toy_lm
        if "messages" in body:
            text = lm.render_chat(body["messages"], body.get("add_generation_prompt", True))
        else:
            text = str(body.get("prompt", ""))
        tokens = lm.encode(text)
        return {"count": len(tokens), "max_model_len": 1 << 20, "tokens": tokens}

    async def _score_tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        from agents.toy_lm import prompt_logprobs

        raw = body["prompt"]
        prompts = [raw] if raw and isinstance(raw[0], int) else list(raw)
        await asyncio.gather(*(self._wait() for _ in prompts))  # latency and slots
        choices = []
        for i, prompt in enumerate(prompts):
            token = self.toy_lm.greedy(prompt)
            choice = {"index": i, "finish_reason": "length", "text": self.toy_lm.texts[token]}
            if body.get("prompt_logprobs") is not None:
                choice["prompt_logprobs"] = prompt_logprobs(self.toy_lm, prompt)
            choices.append(choice)
        tokens = sum(len(p) for p in prompts)
        return {"id": "fake", "object": "text_completion", "created": int(time.time()),
                "model": body.get("model", "fake"), "choices": choices,
                "usage": {"prompt_tokens": tokens, "completion_tokens": len(prompts),
                          "total_tokens": tokens + len(prompts)}}

    async def _wait(self) -> None:
        if self._slots is not None:
            async with self._slots:
                await asyncio.sleep(self.latency_s)
        elif self.latency_s:
            await asyncio.sleep(self.latency_s)

    async def _one(self, body: dict[str, Any], prompt: str) -> str:
        await self._wait()
        return self.answer(body, prompt)


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="time each request takes, in milliseconds (default 0)")
    parser.add_argument("--slots", type=int, default=None, metavar="N",
                        help="requests served at once; others queue (default: unlimited)")
    parser.add_argument("--toy-lm", action="store_true",
                        help="serve /tokenize, token-id prompts with prompt_logprobs, and "
                        "answers' logprobs / top_logprobs from the toy model, for "
                        "choice_probs: exact and top_logprobs")
    args = parser.parse_args()
    toy = None
    if args.toy_lm:
        from agents.toy_lm import ToyLM

        toy = ToyLM()
    server = FakeOpenAIServer(latency_s=args.latency_ms / 1000, slots=args.slots,
                              port=args.port, toy_lm=toy).start()
    print(f"fake OpenAI server at {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
