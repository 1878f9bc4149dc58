"""vLLM in process (extra `vllm`): the whole tick in one `LLM.generate` call.

Every request is rendered with the model's chat template (the engine's own tokenizer) and
gets its own `SamplingParams`: temperature, top-p, max tokens, its seed, and, when the
scenario enables structured output, `StructuredOutputsParams` (choice / regex / JSON schema;
`GuidedDecodingParams` before vLLM 0.11). Automatic prefix caching is on, so the shared
system prompt of a tick is computed once. vLLM is imported only when this backend is
created; without it, creation fails with one line naming `pip install 'tinmen[vllm]'`.

Latency per decision is the wall time of the tick's `generate` call: every request of a tick
waits for the whole batch.

It samples like the server path (`agents.backends.openai_server`): every sampling field is
explicit (`NEUTRAL_SAMPLING`), so neither path takes defaults from the model's
`generation_config.json`; prompts rendered with the chat template are tokenized without
added special tokens (`tokenization_kwargs={"add_special_tokens": False}`), as vLLM's own
chat paths do; where `LLM.generate` has no `tokenization_kwargs` (0.11.0 and 0.8.5) the
prompt is tokenized here the same way and sent as token ids (`agents.backends.vllm_compat`,
which also refuses releases before 0.8.5). A prompt longer than the engine's `max_model_len`
fails alone, before `generate`; if `generate` still raises, the requests are retried one by
one, so only the offender fails. Agents on the same model with the same engine settings
share one engine (`shared_engine`); only per-request settings differ between them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from agents.backends.base import require
from agents.backends.chat_template import prompt_format, render_prompt
from agents.backends.openai_server import NEUTRAL_SAMPLING, SAMPLING_DEFAULTS
from agents.backends.options import BackendOptions
from agents.backends.vllm_compat import dialect_of
from agents.errors import REASON_LIMIT, BackendCreationError, one_line
from agents.structured import answer_constraint, vllm_structured_outputs
from agents.types import Completion, DecisionRequest

_ENGINES: dict[tuple[Any, ...], Any] = {}
_ENGINES_LOCK = threading.Lock()

TOKENIZATION_KWARGS = {"add_special_tokens": False}
"""How rendered prompts are tokenized: the chat template already wrote any BOS."""


def shared_engine(llm_class: Any, engine_args: dict[str, Any]) -> Any:
    """One `vllm.LLM` per (model, engine settings) in this process, created on first use."""
    key = (llm_class, tuple(sorted((k, repr(v)) for k, v in engine_args.items())))
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = llm_class(**engine_args)
        return _ENGINES[key]


class VLLMBackend:
    """One vLLM engine in this process; see the module docstring."""

    name = "vllm"
    cacheable = True

    def __init__(self, model: str | None = None, *,
                 options: BackendOptions | None = None) -> None:
        if not model:
            raise BackendCreationError(
                "backend 'vllm' needs a model: a hub name or local folder, via --model NAME "
                "or agents[].model"
            )
        vllm = require("vllm", "vllm")
        sampling_module = require("vllm.sampling_params", "vllm")
        self.dialect = dialect_of(vllm, sampling_module)
        self.model = model
        self.options = options or BackendOptions()
        if self.options.choice_probs == "top_logprobs":
            raise BackendCreationError(
                "backend 'vllm' scores choice probabilities exactly: set "
                "backend_options.choice_probs: exact (top_logprobs is for backend openai)")
        self._sampling_params = vllm.SamplingParams
        self._structured = self.dialect.structured_class
        engine_args: dict[str, Any] = {
            "model": model,
            "revision": self.options.revision,
            "dtype": self.options.dtype,
            "tensor_parallel_size": self.options.tensor_parallel_size,
            "gpu_memory_utilization": self.options.gpu_memory_utilization,
            "enable_prefix_caching": True,
            "seed": 0,
        }
        if self.options.tokenizer:
            engine_args["tokenizer"] = self.options.tokenizer
        if self.options.max_model_len:
            engine_args["max_model_len"] = self.options.max_model_len
        try:
            self.llm = shared_engine(vllm.LLM, engine_args)
        except Exception as exc:  # noqa: BLE001 - one line for the user
            raise BackendCreationError(
                f"vLLM could not start the model {model!r}: {one_line(str(exc), REASON_LIMIT)}"
            ) from exc
        self.engine_args = engine_args
        self.tokenizer = self.llm.get_tokenizer()
        self.prompt_format = prompt_format(self.tokenizer)
        self.max_model_len = self._engine_max_len()
        self.calls: list[int] = []

    def _engine_max_len(self) -> int | None:
        """The engine's context length, when it can be read (else only `generate` checks)."""
        for holder in (getattr(self.llm, "llm_engine", None), self.llm):
            config = getattr(holder, "model_config", None)
            length = getattr(config, "max_model_len", None)
            if isinstance(length, int):
                return length
        return self.options.max_model_len

    def sampling_params(self, request: DecisionRequest) -> Any:
        """vLLM `SamplingParams` for one request (seed and structured output included)."""
        s = request.sampling
        kwargs: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p,
                                  "max_tokens": s.max_tokens, "seed": request.seed, "n": 1,
                                  **self.dialect.sampling_kwargs(NEUTRAL_SAMPLING)}
        constraint = answer_constraint(request, self.options.structured_output,
                                       self.options.explanation_max_chars)
        if constraint is not None:
            kwargs[self.dialect.structured_field] = self._structured(
                **vllm_structured_outputs(constraint))
        return self._sampling_params(**kwargs)

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer every request with one `LLM.generate` call (see the module docstring)."""
        if not requests:
            return []
        self.calls.append(len(requests))
        started = time.perf_counter()
        results: list[Completion | None] = [None] * len(requests)
        todo: list[tuple[int, Any, Any]] = []
        for i, r in enumerate(requests):
            prompt: Any = render_prompt(self.tokenizer, r.messages)
            ids = list(self.tokenizer(prompt, **TOKENIZATION_KWARGS)["input_ids"])
            length = len(ids)
            if not self.dialect.tokenization_kwargs:
                prompt = {"prompt_token_ids": ids}
            if self.max_model_len is not None and length >= self.max_model_len:
                results[i] = Completion.failed(
                    f"prompt of {length} tokens does not fit max_model_len "
                    f"{self.max_model_len}; raise backend_options.max_model_len or shorten "
                    "the prompt")
            else:
                todo.append((i, prompt, self.sampling_params(r)))
        try:
            outputs = self._generate(todo) if todo else []
        except Exception:  # noqa: BLE001 - one bad request aborts the call: go one by one
            outputs = [self._generate_alone(item) for item in todo]
        latency = (time.perf_counter() - started) * 1000
        for (i, _, _), output in zip(todo, outputs, strict=True):
            results[i] = _completion(output, latency)
        if self.options.choice_probs == "exact" and todo:
            from agents.backends.vllm_choice_probs import attach_vllm_probs

            attach_vllm_probs(self, [requests[i] for i, _, _ in todo], list(outputs),
                              [results[i] for i, _, _ in todo])
        return [r if r is not None else Completion.failed("not answered") for r in results]

    def _generate(self, todo: list[tuple[int, Any, Any]]) -> list[Any]:
        extra = ({"tokenization_kwargs": TOKENIZATION_KWARGS}
                 if self.dialect.tokenization_kwargs else {})
        return self.llm.generate([p for _, p, _ in todo], [s for _, _, s in todo],
                                 use_tqdm=False, **extra)

    def _generate_alone(self, item: tuple[int, Any, Any]) -> Any:
        """One request in its own call; the failure reason when it fails there too."""
        try:
            return self._generate([item])[0]
        except Exception as exc:  # noqa: BLE001 - recorded as this decision's failure
            return f"vLLM refused the request: {type(exc).__name__}: {one_line(str(exc))}"

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest."""
        return {**{k: v for k, v in self.engine_args.items() if k != "model"},
                "prompt_format": self.prompt_format,
                "structured_output": self.options.structured_output,
                "sampling_defaults": SAMPLING_DEFAULTS,
                "tokenization_kwargs": dict(TOKENIZATION_KWARGS),
                "vllm_version": self.dialect.version,
                "prompts_sent_as": "text" if self.dialect.tokenization_kwargs else "token ids",
                "choice_probs": self.options.choice_probs}

    def close(self) -> None:
        """Drop this backend's handle on the shared engine (kept for the process's other
        agents; vLLM frees GPU memory when the process ends)."""
        self.llm = None


def _completion(output: Any, latency: float) -> Completion:
    """A completion from one vLLM `RequestOutput` (or the reason its request failed)."""
    if isinstance(output, str):
        return Completion.failed(output, latency_ms=latency)
    if not output.outputs:
        return Completion.failed("vLLM returned no output", latency_ms=latency)
    first = output.outputs[0]
    return Completion(text=first.text, latency_ms=latency,
                      prompt_tokens=len(output.prompt_token_ids or ()),
                      completion_tokens=len(first.token_ids or ()),
                      finish_reason=first.finish_reason)
