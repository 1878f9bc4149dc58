"""The LLM-backend flags shared by `tinmen run` and `tinmen sweep`.

Each flag overrides one `BackendOptions` field for every agent. The argparse type and choices
are read from the field's annotation, so the flag table cannot drift from the option model.
"""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Any

from agents.backends.options import BackendOptions
from agents.backends.overrides import BackendOverrides

_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--base-url", "base_urls", {"action": "append", "metavar": "URL",
                                 "help": "OpenAI-compatible endpoint, e.g. "
                                 "http://gpu1:8000/v1; repeat for replicas"}),
    ("--api-key-env", "api_key_env", {"metavar": "VAR", "help": "environment variable "
                                      "holding the API key (the key is never recorded)"}),
    ("--server", "server", {"help": "what --base-url points at (decides how structured "
                            "output is requested)"}),
    ("--api", "api", {"help": "chat requests, or prompt lists to /v1/completions"}),
    ("--structured-output", "structured_output",
     {"help": "constrain answers during decoding"}),
    ("--max-concurrency", "max_concurrency", {"metavar": "N",
                                              "help": "requests in flight per URL"}),
    ("--timeout", "timeout_s", {"metavar": "SECONDS", "help": "per-request timeout"}),
    ("--max-retries", "max_retries", {"metavar": "N",
                                      "help": "retries per request after faults"}),
    ("--retry-invalid", "retry_invalid", {"metavar": "N",
                                          "help": "re-asks of unreadable answers"}),
    ("--micro-batch-size", "micro_batch_size", {"metavar": "N",
                                                "help": "hf: requests per forward batch"}),
    ("--device", "device", {"metavar": "DEVICE", "help": "hf: auto, cpu, cuda, cuda:1 ..."}),
    ("--dtype", "dtype", {"help": "hf / vllm: weight dtype"}),
    ("--tokenizer", "tokenizer", {"metavar": "NAME", "help": "tokenizer whose chat template "
                                  "renders prompts (api completions, hf)"}),
    ("--revision", "revision", {"metavar": "REV", "help": "model revision (cache key)"}),
    ("--choice-probs", "choice_probs", {"help": "record each decision's option probabilities"}),
    ("--prompts-per-request", "prompts_per_request",
     {"metavar": "N", "help": "openai, api completions: most prompts in one request"}),
    ("--samples-per-request", "samples_per_request",
     {"metavar": "N", "help": "openai, server vllm: most identical-prompt decisions sent as "
      "one request with n samples"}),
    ("--http-client", "http_client", {"help": "openai: how requests go out"}),
    ("--client-processes", "client_processes",
     {"metavar": "N", "help": "openai: processes sending a tick's requests"}),
)


def _argparse_settings(field: str) -> dict[str, Any]:
    """`type` and `choices` for one BackendOptions field, read from its annotation."""
    annotation = BackendOptions.model_fields[field].annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return {"choices": list(typing.get_args(annotation))}
    if args[0] in (int, float):
        return {"type": args[0]}
    return {}


BACKEND_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = tuple(
    (flag, field, {**_argparse_settings(field), **settings}) for flag, field, settings in _FLAGS
)
"""--flag, the `backend_options` field it overrides for every agent, argparse settings."""


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    """Add the LLM-backend flags, and --cache / --fresh, to a subcommand's parser."""
    group = parser.add_argument_group(
        "LLM backends", "override agents[].backend_options for every agent")
    for flag, field, settings in BACKEND_FLAGS:
        group.add_argument(flag, dest=f"opt_{field}", **settings)
    group.add_argument("--cache", metavar="PATH",
                       help="SQLite response cache: answers found there are reused, new ones "
                       "stored (with --backend replay: the only source of answers)")
    group.add_argument("--fresh", action="store_true",
                       help="with --cache: ask the model again and replace cached answers")


def backend_overrides(args: argparse.Namespace, *, absolute_cache: bool = False
                      ) -> BackendOverrides:
    """The backend flags given on the command line, validated once, here (naming the flag).

    `absolute_cache` resolves --cache against the current directory (a sweep's workers may
    run elsewhere).
    """
    fields = {field: getattr(args, f"opt_{field}", None) for _, field, _ in BACKEND_FLAGS}
    cache = getattr(args, "cache", None)
    if cache and absolute_cache:
        cache = str(Path(cache).resolve())
    return BackendOverrides.create(fields, cache=cache or None,
                                   fresh=bool(getattr(args, "fresh", False)))
