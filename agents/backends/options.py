"""Settings of the inference backends, as a scenario states them (`agents[].backend_options`).

One frozen pydantic model serves every LLM backend (openai, vllm, hf, replay); each backend
reads the fields that concern it and ignores the others. The scenario schema (`sim.scenario.schema`)
embeds this model, so `tinmen schema` and the README reference are generated from the
descriptions below, and the loader's one-line errors cover it like any other key.

Secrets never live here: `api_key_env` names an environment variable, and only that name is
ever recorded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

StructuredOutput = Literal["none", "choice", "regex", "json"]
"""How tightly the answer's form is constrained during decoding (see `agents.structured`)."""

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
"""Where `vllm serve` listens by default."""


class BackendOptions(BaseModel):
    """How an LLM backend reaches its model: servers, faults, batching, structured output.

    Each backend reads the keys that concern it: `openai` the server keys, `hf` the device
    keys, `vllm` the engine keys; `structured_output`, `retry_invalid` and `revision` apply to
    all of them. Flags of `tinmen run` (`--base-url`, `--api-key-env`, ...) override these for
    every agent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False,
                              allow_inf_nan=False)

    # ------------------------------------------------------------------ openai: the servers
    base_urls: tuple[str, ...] = Field(
        default=(),
        description="OpenAI-compatible endpoints, e.g. `http://gpu1:8000/v1`. Several URLs are "
        "replicas of one model: each request goes to the one with the fewest requests in "
        f"flight. Empty means `{DEFAULT_BASE_URL}` (where `vllm serve` listens).",
    )
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the API key (e.g. "
        "`OPENAI_API_KEY`). Only the name is recorded, never the key. Omit for servers "
        "without a key (a local `vllm serve`).",
    )
    server: Literal["vllm", "openai"] = Field(
        default="vllm",
        description="What the URLs point at: `vllm` (vLLM or a server accepting vLLM's extra "
        "request fields) or `openai` (OpenAI's API or a compatible hosted service). It "
        "decides how structured output is requested.",
    )
    api: Literal["chat", "completions"] = Field(
        default="chat",
        description="`chat`: one /v1/chat/completions request per decision. `completions`: "
        "prompts rendered locally with the model's chat template and sent as lists to "
        "/v1/completions (up to `prompts_per_request` per request; prompts travel together "
        "only when they share sampling settings and seed).",
    )
    tokenizer: str | None = Field(
        default=None,
        description="Tokenizer (local path or hub name) whose chat template renders prompts "
        "for `api: completions` and the `hf` backend; omit to use the model's own.",
    )
    prompts_per_request: int = Field(
        default=32, ge=1,
        description="Most prompts in one /v1/completions request (`api: completions`).",
    )
    samples_per_request: int = Field(
        default=1, ge=1,
        description="`server: vllm`: most decisions with an identical prompt and consecutive "
        "seeds sent as one request with `n` samples. vLLM (0.8.5+) seeds sample i with "
        "seed + i, so each decision gets exactly the answer of its own request; per-sample "
        "token counts need `return_token_ids` (vLLM 0.11+). More than 1 with `server: openai` "
        "is refused. 1 (the default): one request per prompt. See README, Requests per "
        "decision.",
    )
    http_client: Literal["auto", "aiohttp", "protocol"] = Field(
        default="auto",
        description="How requests go out: `protocol` (a bare HTTP/1.1 keep-alive client on "
        "asyncio protocols, needs `httptools`; several times less CPU per request), `aiohttp` "
        "(reads proxy settings from the environment), or `auto`: `protocol` for `server: "
        "vllm` when `httptools` is installed, else `aiohttp`.",
    )
    client_processes: int = Field(
        default=1, ge=1,
        description="Processes sending a tick's HTTP requests (`openai`), each with its own "
        "event loop and connections (up to `max_concurrency` per URL each); requests are "
        "dealt round robin and answers come back, in order, to the run's process. Sharding "
        "costs CPU per decision: more than 1 pays only with spare CPU cores.",
    )
    max_concurrency: int = Field(
        default=256, ge=1,
        description="Most requests in flight per URL. A tick's requests are all sent at once "
        "up to this limit, so a vLLM engine can batch them; keep it at or above the server's "
        "`--max-num-seqs`.",
    )
    timeout_s: float = Field(
        default=120.0, gt=0,
        description="Seconds one HTTP request may take before it is abandoned and retried.",
    )
    max_retries: int = Field(
        default=5, ge=0,
        description="Retries per request after 429 (its `retry-after` is honoured), 5xx, "
        "timeouts, dropped connections and unreadable responses, with exponential backoff and "
        "jitter. When they are spent the decision is recorded as failed, with the reason.",
    )
    backoff_s: float = Field(
        default=0.5, ge=0,
        description="Wait before the first retry; it doubles on each retry (up to 30 s), "
        "jittered.",
    )
    # ------------------------------------------------------------------ every LLM backend
    structured_output: StructuredOutput = Field(
        default="none",
        description="Constrain the answer while it is decoded: `none`; `choice` (exactly "
        "`Choice: <n>` or `Choice: none`, no explanation); `regex` (one line of explanation, "
        "then the choice line); `json` (`{\"explanation\": ..., \"choice\": ...}`). With "
        "`server: openai` only `json` is available (sent as `response_format`).",
    )
    explanation_max_chars: int = Field(
        default=600, ge=1,
        description="Longest explanation `regex` and `json` allow, in characters. Keep "
        "`sampling.max_tokens` large enough for it, or answers are cut off and unreadable.",
    )
    retry_invalid: int = Field(
        default=1, ge=0,
        description="How many times a decision whose answer names no listed product (nor a "
        "refusal) is asked again, with a fresh seed derived from its own. Earlier answers are "
        "kept in the transcript; `reasks` counts them. Skipped at temperature 0.",
    )
    choice_probs: Literal["off", "top_logprobs", "exact"] = Field(
        default="off",
        description="Record each decision's probability of every listed option (and of "
        "`none`): `exact` scores every option's continuation (`hf`, `vllm`, and `openai` with a "
        "vLLM server: a second request per tick); `top_logprobs` "
        "reads the server's top-k log-probs at the choice position (`openai`: options "
        "outside the top-k are unknown and `choice_prob_mass` < 1 says so); `off`. The "
        "`rational` backend always records its own. See README, Choice probabilities.",
    )
    top_logprobs: int = Field(
        default=20, ge=1, le=20,
        description="`choice_probs: top_logprobs`: alternatives per position to ask for "
        "(OpenAI's API allows 20; vLLM up to its `--max-logprobs`).",
    )
    revision: str | None = Field(
        default=None,
        description="Model revision (a hub commit, tag or branch) for `hf` and `vllm`; for "
        "servers, a label. Part of the response-cache key.",
    )
    # ------------------------------------------------------------------ hf (transformers)
    micro_batch_size: int = Field(
        default=16, ge=1,
        description="`hf`: requests per forward batch; requests are sorted by prompt length "
        "first so each batch pads little.",
    )
    device: str = Field(
        default="auto",
        description="`hf`: `auto` (CUDA when present, else CPU), or a torch device such as "
        "`cuda:1` or `cpu`.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="`hf` and `vllm`: weight dtype; `auto` is bfloat16 on GPUs that support "
        "it (else float16) and float32 on CPU.",
    )
    # ------------------------------------------------------------------ vllm (in process)
    tensor_parallel_size: int = Field(
        default=1, ge=1, description="`vllm`: GPUs to shard the model over."
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0, le=1,
        description="`vllm`: share of GPU memory the engine may take.",
    )
    max_model_len: int | None = Field(
        default=None, ge=1,
        description="`vllm`: context length to reserve; omit for the model's own.",
    )

    @model_validator(mode="after")
    def _structured_output_fits_server(self) -> BackendOptions:
        if self.server == "openai" and self.structured_output in ("choice", "regex"):
            raise ValueError(
                f"structured_output {self.structured_output!r} needs a vLLM server; OpenAI's "
                "API only takes structured_output: json (or use server: vllm)"
            )
        if (self.server == "openai" and self.api == "completions"
                and self.structured_output != "none"):
            raise ValueError("structured output with server: openai needs api: chat")
        for url in self.base_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base URL {url!r} must start with http:// or https://")
        return self

    def urls(self) -> tuple[str, ...]:
        """The base URLs to use: the configured ones, or the local vLLM default."""
        return self.base_urls or (DEFAULT_BASE_URL,)
