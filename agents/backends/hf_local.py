"""A Hugging Face transformers model in process: for laptops, small models and tests.

`generate` renders every request with the model's chat template, sorts the prompts by
length and runs them in micro-batches of `micro_batch_size` (left padding, attention
masks), so each batch pads little. Device and dtype are chosen automatically: CUDA when
present (bfloat16 where supported, else float16), else CPU in float32.

Sampling is done by `SeededSampler`, a logits processor that draws each row's next token
with that request's own `torch.Generator` (seeded from the request's seed) after
temperature and top-p. A request's answer therefore depends on its prompt and seed, not
on which other requests share its batch (up to floating-point differences of batched
arithmetic).

Structured output uses xgrammar (the grammar engine behind vLLM's structured outputs): the
constraint is compiled once per distinct form against the model's tokenizer, and each row's
grammar matcher masks the tokens that cannot continue a valid answer before sampling. We
chose xgrammar over transformers' own `prefix_allowed_tokens_fn` hook because it handles
byte-level tokens that split characters, compiles regexes and JSON schemas (not only fixed
strings), applies one bitmask per row in C++ instead of a Python trie walk per token, and
constrains exactly as a vLLM server does, so the `hf` and `vllm` paths agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from agents.backends.base import ResultSink, require
from agents.backends.chat_template import load_tokenizer, prompt_format, render_prompt
from agents.backends.model_paths import check_model_path
from agents.backends.options import BackendOptions
from agents.backends.progress import report_answered
from agents.errors import REASON_LIMIT, BackendCreationError, one_line
from agents.structured import AnswerConstraint, answer_constraint
from agents.types import Completion, DecisionRequest


def pick_device(requested: str, torch: Any) -> str:
    """`auto` -> `cuda` when available, else `cpu`; anything else is used as given."""
    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str, device: str, torch: Any) -> Any:
    """`auto` -> bfloat16 (or float16) on CUDA, float32 elsewhere."""
    if requested != "auto":
        return getattr(torch, requested)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class SeededSampler:
    """A transformers logits processor that samples each row itself (see module docstring).

    Used with greedy `generate`: it returns scores where only the token it drew is finite,
    so greedy decoding takes exactly that token. It also ends rows at their own
    `max_tokens`, and applies each row's grammar when one is given.

    The work is vectorised over the batch: temperature, top-p and the Gumbel-max draw are
    tensor operations, each sampled row draws its noise from its own generator (so its
    stream depends on its seed alone), and the chosen tokens cross to the host once per step.
    """

    def __init__(self, *, torch: Any, seeds: Sequence[int], temperatures: Sequence[float],
                 top_ps: Sequence[float], max_tokens: Sequence[int], eos_ids: Sequence[int],
                 matchers: Sequence[Any | None], xgrammar: Any = None,
                 vocab_size: int, device: Any) -> None:
        self.torch = torch
        self.generators = []
        for seed in seeds:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(seed))
            self.generators.append(generator)
        self.greedy = [t <= 0 for t in temperatures]
        self.temperatures = torch.tensor([t if t > 0 else 1.0 for t in temperatures],
                                         device=device, dtype=torch.float32)
        self.top_ps = torch.tensor(list(top_ps), device=device, dtype=torch.float32)
        self.use_top_p = any(p < 1.0 for p in top_ps)
        self.max_tokens = list(max_tokens)
        self.eos = int(eos_ids[0])
        self.eos_ids = set(int(e) for e in eos_ids)
        self.matchers = list(matchers)
        self.xgr = xgrammar
        self.done = [False] * len(seeds)
        self.last: list[int] = []
        self.steps = 0
        self.bitmask = None
        if any(m is not None for m in self.matchers):
            self.bitmask = xgrammar.allocate_token_bitmask(len(seeds), vocab_size)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Pick the next token of every row; return scores that make greedy take it."""
        torch = self.torch
        scores = scores.float()
        if self.steps > 0:
            self._advance(self.last)
        if self.bitmask is not None:
            self.xgr.reset_token_bitmask(self.bitmask)
            for row, matcher in enumerate(self.matchers):
                if matcher is not None and not self.done[row] and not matcher.is_terminated():
                    matcher.fill_next_token_bitmask(self.bitmask, row)
            self.xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
        logits = scores / self.temperatures[:, None]
        if self.use_top_p:
            logits = self._top_p(logits)
        sampled = [r for r in range(len(self.done)) if not self.greedy[r] and not self.done[r]]
        if sampled:
            uniform = torch.zeros_like(logits)
            for row in sampled:
                uniform[row].uniform_(generator=self.generators[row])
            gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-30)))
            logits = logits + gumbel  # Gumbel-max: argmax draws from softmax(logits)
        chosen = torch.argmax(logits, dim=-1)
        nothing_allowed = ~torch.isfinite(scores).any(dim=-1)
        self.last = []
        for row, (token, empty) in enumerate(zip(chosen.tolist(), nothing_allowed.tolist(),
                                                 strict=True)):
            if self.done[row] or empty or self.steps >= self.max_tokens[row]:
                self.done[row] = True
                token = self.eos
            self.last.append(int(token))
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0], device=scores.device),
            torch.tensor(self.last, device=scores.device)] = 0.0
        self.steps += 1
        return out

    def _top_p(self, logits: Any) -> Any:
        """Remove each row's tokens outside its nucleus (the smallest set of mass top_p)."""
        torch = self.torch
        ordered, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(ordered, dim=-1)
        outside = torch.cumsum(probs, dim=-1) - probs >= self.top_ps[:, None]
        remove = torch.zeros_like(outside).scatter(1, order, outside)
        return logits.masked_fill(remove, float("-inf"))

    def _advance(self, last_tokens: list[int]) -> None:
        """Feed the tokens chosen at the previous step to the grammars; note finished rows."""
        for row, token in enumerate(last_tokens):
            if self.done[row]:
                continue
            matcher = self.matchers[row]
            if matcher is not None and not matcher.is_terminated():
                if not matcher.accept_token(int(token)):
                    self.done[row] = True  # cannot happen with a correct mask
                    continue
            if token in self.eos_ids:
                self.done[row] = True


@contextmanager
def quiet_loading(transformers: Any) -> Iterator[None]:
    """Hide transformers' own progress bars ("Loading weights") while tinmen loads a model.

    tinmen draws its own progress; the setting is restored afterwards.
    """
    logging = transformers.utils.logging
    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


class HFBackend:
    """Batched generation with a local transformers causal LM; see the module docstring."""

    name = "hf"
    cacheable = True

    def __init__(self, model: str | None = None, *,
                 options: BackendOptions | None = None) -> None:
        if not model:
            raise BackendCreationError(
                "backend 'hf' needs a model: a local folder or a downloaded hub name, via "
                "--model PATH_OR_NAME or agents[].model"
            )
        check_model_path(model)
        if options is not None and options.choice_probs == "top_logprobs":
            raise BackendCreationError(
                "backend 'hf' scores choice probabilities exactly: set "
                "backend_options.choice_probs: exact (top_logprobs is for backend openai)")
        self.torch = require("torch", "hf")
        transformers = require("transformers", "hf")
        self.model = model
        self.options = options or BackendOptions()
        self.device = pick_device(self.options.device, self.torch)
        self.dtype = pick_dtype(self.options.dtype, self.device, self.torch)
        self.tokenizer = load_tokenizer(self.options.tokenizer or model, self.options.revision)
        self.tokenizer.padding_side = "left"
        try:
            with quiet_loading(transformers):
                self.lm = transformers.AutoModelForCausalLM.from_pretrained(
                    model, revision=self.options.revision, dtype=self.dtype)
            self.lm.to(self.device)
        except Exception as exc:  # noqa: BLE001 - one line for the user
            raise BackendCreationError(
                f"cannot load the model {model!r} for backend 'hf' "
                f"({one_line(str(exc), REASON_LIMIT)}); "
                "give a local folder or a downloaded hub name"
            ) from exc
        self.lm.eval()
        self.eos_ids = self._eos_ids()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token_id = self.eos_ids[0]
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.vocab_size = int(self.lm.get_output_embeddings().weight.shape[0])
        self.prompt_format = prompt_format(self.tokenizer)
        self._xgr: Any = None
        self._compiler: Any = None
        self._grammars: dict[str, Any] = {}
        self._info: Any = None
        self._vocab: Any = None
        self.batches: list[int] = []

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = getattr(self.lm.generation_config, "eos_token_id", None)
        for value in (configured, self.tokenizer.eos_token_id):
            for token in (value if isinstance(value, list) else [value]):
                if token is not None and int(token) not in ids:
                    ids.append(int(token))
        if not ids:
            raise BackendCreationError(
                f"model {self.model!r} declares no end-of-sequence token; set eos_token_id in "
                "its generation_config.json"
            )
        return ids

    # ------------------------------------------------------------------ protocol
    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer every request, in micro-batches of similar prompt length."""
        return self.generate_streaming(requests, None)

    def generate_streaming(self, requests: Sequence[DecisionRequest],
                           on_result: ResultSink | None) -> list[Completion]:
        """`generate`, calling `on_result(index, completion)` after each micro-batch."""
        if not requests:
            return []  # the tokenizer cannot encode an empty list
        prompts = [render_prompt(self.tokenizer, r.messages) for r in requests]
        encoded = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        order = sorted(range(len(requests)), key=lambda i: len(encoded[i]))
        size = self.options.micro_batch_size
        results: list[Completion | None] = [None] * len(requests)
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            started = time.perf_counter()
            try:
                answers = self._generate_rows([requests[i] for i in rows],
                                              [encoded[i] for i in rows])
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory: fail this batch only
                detail = one_line(str(exc), REASON_LIMIT)
                reason = f"generation error: {type(exc).__name__}: {detail}"
                latency = (time.perf_counter() - started) * 1000
                answers = [Completion.failed(reason, latency_ms=latency) for _ in rows]
            for i, completion in zip(rows, answers, strict=True):
                results[i] = completion
                if on_result is not None:
                    on_result(i, completion)
            report_answered(len(rows))
        return [r if r is not None else Completion.failed("not answered") for r in results]

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest."""
        return {"device": self.device, "dtype": str(self.dtype).removeprefix("torch."),
                "micro_batch_size": self.options.micro_batch_size,
                "prompt_format": self.prompt_format, "revision": self.options.revision,
                "structured_output": self.options.structured_output,
                "choice_probs": self.options.choice_probs,
                "constrained_decoding": "xgrammar"
                if self.options.structured_output != "none" else None}

    def close(self) -> None:
        """Drop the model and free GPU memory."""
        self.lm = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    # ------------------------------------------------------------------ one micro-batch
    def _generate_rows(self, requests: list[DecisionRequest],
                       encoded: list[list[int]]) -> list[Completion]:
        torch = self.torch
        started = time.perf_counter()
        self.batches.append(len(requests))
        padded = self.tokenizer.pad({"input_ids": encoded}, padding=True, return_tensors="pt")
        input_ids = padded["input_ids"].to(self.device)
        attention = padded["attention_mask"].to(self.device)
        width = input_ids.shape[1]
        matchers = [self._matcher(answer_constraint(r, self.options.structured_output,
                                                    self.options.explanation_max_chars))
                    for r in requests]
        sampler = SeededSampler(
            torch=torch, seeds=[r.seed for r in requests],
            temperatures=[r.sampling.temperature for r in requests],
            top_ps=[r.sampling.top_p for r in requests],
            max_tokens=[r.sampling.max_tokens for r in requests], eos_ids=self.eos_ids,
            matchers=matchers, xgrammar=self._xgr,
            vocab_size=self.vocab_size, device=input_ids.device)
        transformers = require("transformers", "hf")
        config = transformers.GenerationConfig(
            max_new_tokens=max(r.sampling.max_tokens for r in requests), do_sample=False,
            pad_token_id=self.pad_id, eos_token_id=self.eos_ids)
        with torch.inference_mode():
            output = self.lm.generate(input_ids=input_ids, attention_mask=attention,
                                      generation_config=config,
                                      logits_processor=transformers.LogitsProcessorList(
                                          [sampler]))
        latency = (time.perf_counter() - started) * 1000
        completions, written = [], []
        for row, tokens in enumerate(output[:, width:].tolist()):
            stop = next((k for k, t in enumerate(tokens) if t in sampler.eos_ids), None)
            kept = tokens if stop is None else tokens[:stop]
            reached_limit = stop is None or stop >= requests[row].sampling.max_tokens
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            written.append(kept)
            completions.append(Completion(  # a stop token the model chose counts; ours not
                text=text, latency_ms=latency, prompt_tokens=len(encoded[row]),
                completion_tokens=len(kept) + (0 if reached_limit else 1),
                finish_reason="length" if reached_limit else "stop"))
        if self.options.choice_probs == "exact":
            self._choice_probs(requests, encoded, written, completions)
        return completions

    def _choice_probs(self, requests: list[DecisionRequest], encoded: list[list[int]],
                      written: list[list[int]], completions: list[Completion]) -> None:
        """Exact choice probabilities for a micro-batch (see agents.backends.logprob_scoring)."""
        from agents.backends.hf_choice_probs import attach_exact_probs

        if self._vocab is None:
            from agents.backends.logprob_scoring import vocab_from_xgrammar

            self._vocab = vocab_from_xgrammar(self._tokenizer_info(), self.vocab_size,
                                              self.eos_ids, self.torch)
        attach_exact_probs(self, requests, encoded, written, completions)

    def _tokenizer_info(self) -> Any:
        """xgrammar's view of the tokenizer (built once)."""
        if self._info is None:
            xgr = require("xgrammar", "hf")
            self._info = xgr.TokenizerInfo.from_huggingface(
                self.tokenizer, vocab_size=self.vocab_size, stop_token_ids=self.eos_ids)
        return self._info

    def _matcher(self, constraint: AnswerConstraint | None) -> Any:
        """A fresh grammar matcher for `constraint` (its grammar compiled once), or None."""
        if constraint is None:
            return None
        if self._compiler is None:
            xgr = require("xgrammar", "hf")
            self._xgr, self._compiler = xgr, xgr.GrammarCompiler(self._tokenizer_info())
        key = constraint.key()
        grammar = self._grammars.get(key)
        if grammar is None:
            if constraint.mode == "json":
                grammar = self._compiler.compile_json_schema(constraint.json_schema(),
                                                             any_whitespace=False)
            else:
                grammar = self._compiler.compile_regex(constraint.regex)
            self._grammars[key] = grammar
        return self._xgr.GrammarMatcher(grammar)
