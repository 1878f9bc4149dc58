"""Choice probabilities through an OpenAI-compatible server's top-k log-probs.

Two functions the `openai` backend calls: `logprobs_fields` adds the request fields
(`logprobs` / `top_logprobs` for chat, `logprobs: k` for /v1/completions) and
`read_distribution` reads a response choice's per-token alternatives back into choice
probabilities (`agents.choice_probs.read_top_logprobs`). Both APIs' formats are read:
chat's `logprobs.content[].top_logprobs[]` and completions' `logprobs.top_logprobs[]`
(a token -> log-prob mapping per position).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from agents.backends.options import BackendOptions
from agents.choice_probs import (
    CONDITIONAL,
    DIRECT,
    TokenChoices,
    choice_position,
    option_labels,
    read_top_logprobs,
)
from agents.types import DecisionRequest

Distribution = tuple[tuple[float | None, ...], float, str]
"""Choice probabilities, the mass they cover, and their kind."""


def logprobs_fields(options: BackendOptions) -> dict[str, Any]:
    """The request-body fields that ask for top-k log-probs, or {} when they are off."""
    if options.choice_probs != "top_logprobs":
        return {}
    if options.api == "chat":
        return {"logprobs": True, "top_logprobs": options.top_logprobs}
    return {"logprobs": options.top_logprobs}


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def _chat_tokens(logprobs: Any) -> list[TokenChoices]:
    tokens = []
    for entry in _get(logprobs, "content") or []:
        top = tuple((str(_get(t, "token")), float(_get(t, "logprob")))
                    for t in _get(entry, "top_logprobs") or [])
        tokens.append(TokenChoices(str(_get(entry, "token")), float(_get(entry, "logprob")),
                                   top))
    return tokens


def _completion_tokens(logprobs: Any) -> list[TokenChoices]:
    names = _get(logprobs, "tokens") or []
    values = _get(logprobs, "token_logprobs") or []
    tops = _get(logprobs, "top_logprobs") or [None] * len(names)
    tokens = []
    for name, value, top in zip(names, values, tops, strict=False):
        alternatives = tuple((str(t), float(v)) for t, v in (top or {}).items())
        tokens.append(TokenChoices(str(name), float(value if value is not None else 0.0),
                                   alternatives))
    return tokens


NO_LOGPROBS = "top_logprobs: the server returned no logprobs with the answer"
"""The reason recorded when a response choice carries no `logprobs` at all."""


def read_distribution(choice: Any, text: str, request: DecisionRequest,
                      options: BackendOptions) -> Distribution | str | None:
    """The choice probabilities in one response choice; the reason (a str) when they were
    asked for and cannot be read; None when `choice_probs` is not `top_logprobs`."""
    if options.choice_probs != "top_logprobs":
        return None
    logprobs = _get(choice, "logprobs")
    if logprobs is None:
        return NO_LOGPROBS
    chat = _get(logprobs, "content") is not None
    tokens = _chat_tokens(logprobs) if chat else _completion_tokens(logprobs)
    read = read_top_logprobs(text, tokens, option_labels(request))
    if read is None:
        if choice_position(text) is None:
            return "top_logprobs: the answer has no choice position"
        return "top_logprobs: the returned tokens do not spell the answer"
    kind = DIRECT if options.structured_output == "choice" else CONDITIONAL
    return read[0], read[1], kind


class LogprobsReader:
    """`read_distribution` for one backend, which warns once (one stderr line) the first
    time its server returns no `logprobs` although they were asked for."""

    def __init__(self, options: BackendOptions, urls: Sequence[str]) -> None:
        self.options = options
        self.urls = list(urls)
        self.warned = False

    def read(self, choice: Any, text: str, request: DecisionRequest
             ) -> Distribution | str | None:
        """See `read_distribution`."""
        found = read_distribution(choice, text, request, self.options)
        if found == NO_LOGPROBS and not self.warned:
            self.warned = True
            print(f"warning: backend 'openai' ({', '.join(self.urls)}): choice_probs: "
                  "top_logprobs asked for logprobs and the server returned none; choice "
                  "probabilities stay null (choice_probs_error says why per decision)",
                  file=sys.stderr)
        return found


def distribution_fields(distribution: Distribution | str | None) -> dict[str, Any]:
    """`Completion` keyword arguments for a read distribution ({} when none was asked for;
    `choice_probs_error` when it could not be read)."""
    if distribution is None:
        return {}
    if isinstance(distribution, str):
        return {"choice_probs_error": distribution}
    probs, mass, kind = distribution
    return {"choice_probs": probs, "choice_prob_mass": mass, "choice_probs_kind": kind}


def check_choice_probs(options: BackendOptions) -> None:
    """Refuse the settings the `openai` backend cannot serve, in one line.

    `exact` is served by a vLLM server (`agents.backends.server_scoring`), from the backend's
    own process (not with `client_processes` > 1); a server without its scoring endpoints is
    reported once, at the first tick.
    """
    if options.choice_probs == "exact" and options.server == "openai":
        from agents.errors import BackendCreationError

        raise BackendCreationError(
            "backend_options.choice_probs: exact with server: openai: a hosted API returns "
            "no prompt log-probs; set choice_probs: top_logprobs (or --choice-probs "
            "top_logprobs), or serve the model with vLLM (server: vllm)")
    if options.choice_probs == "exact" and options.client_processes > 1:
        from agents.errors import BackendCreationError

        raise BackendCreationError(
            f"backend_options.choice_probs: exact with client_processes: "
            f"{options.client_processes}: the scoring pass runs in the backend's own process; "
            "set client_processes: 1 (or --client-processes 1), or choice_probs: top_logprobs")
