"""vLLM in process (extra `vllm`): the whole tick in one `LLM.generate` call.

Every request is rendered with the model's chat template (the engine's own tokenizer) and
gets its own `SamplingParams`: temperature, top-p, max tokens, its seed, and, when the
scenario enables structured output, `StructuredOutputsParams` (choice / regex / JSON schema;
vLLM 0.11 and later). Automatic prefix caching is on, so the shared system prompt of a tick
is computed once. vLLM is imported only when this backend is created; without it, creation
fails with one line naming `pip install 'tinmen[vllm]'`.

Latency per decision is the wall time of the tick's `generate` call: every request of a
tick waits for the whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from agents.backends.base import BackendCreationError, require
from agents.backends.chat_template import prompt_format, render_prompt
from agents.backends.options import BackendOptions
from agents.backends.retry import one_line
from agents.structured import answer_constraint, vllm_structured_outputs
from agents.types import Completion, DecisionRequest


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
        if not hasattr(sampling_module, "StructuredOutputsParams"):
            raise BackendCreationError(
                "the installed vLLM predates structured_outputs (vLLM 0.11); run: "
                "pip install 'tinmen[vllm]' to upgrade"
            )
        self.model = model
        self.options = options or BackendOptions()
        if self.options.choice_probs == "top_logprobs":
            raise BackendCreationError(
                "backend 'vllm' scores choice probabilities exactly: set "
                "backend_options.choice_probs: exact (top_logprobs is for backend openai)")
        self._sampling_params = vllm.SamplingParams
        self._structured = sampling_module.StructuredOutputsParams
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
            self.llm = vllm.LLM(**engine_args)
        except Exception as exc:  # noqa: BLE001 - one line for the user
            raise BackendCreationError(
                f"vLLM could not start the model {model!r}: {one_line(str(exc))}"
            ) from exc
        self.engine_args = engine_args
        self.tokenizer = self.llm.get_tokenizer()
        self.prompt_format = prompt_format(self.tokenizer)
        self.calls: list[int] = []

    def sampling_params(self, request: DecisionRequest) -> Any:
        """vLLM `SamplingParams` for one request (seed and structured output included)."""
        s = request.sampling
        kwargs: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p,
                                  "max_tokens": s.max_tokens, "seed": request.seed, "n": 1}
        constraint = answer_constraint(request, self.options.structured_output,
                                       self.options.explanation_max_chars)
        if constraint is not None:
            kwargs["structured_outputs"] = self._structured(**vllm_structured_outputs(constraint))
        return self._sampling_params(**kwargs)

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer every request with one `LLM.generate` call."""
        if not requests:
            return []
        self.calls.append(len(requests))
        prompts = [render_prompt(self.tokenizer, r.messages) for r in requests]
        params = [self.sampling_params(r) for r in requests]
        started = time.perf_counter()
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        latency = (time.perf_counter() - started) * 1000
        completions = []
        for output in outputs:
            if not output.outputs:
                completions.append(Completion.failed("vLLM returned no output",
                                                     latency_ms=latency))
                continue
            first = output.outputs[0]
            completions.append(Completion(
                text=first.text, latency_ms=latency,
                prompt_tokens=len(output.prompt_token_ids or ()),
                completion_tokens=len(first.token_ids or ()),
                finish_reason=first.finish_reason))
        if self.options.choice_probs == "exact":
            from agents.backends.vllm_choice_probs import attach_vllm_probs

            attach_vllm_probs(self, list(requests), list(outputs), completions)
        return completions

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest."""
        return {**{k: v for k, v in self.engine_args.items() if k != "model"},
                "prompt_format": self.prompt_format,
                "structured_output": self.options.structured_output,
                "choice_probs": self.options.choice_probs}

    def close(self) -> None:
        """Drop the engine (vLLM frees GPU memory when it is collected)."""
        self.llm = None
