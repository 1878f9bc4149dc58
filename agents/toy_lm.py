"""A deterministic toy language model and tokenizer, for the loopback fake server.

The fake server (`agents.fake_server`) uses it to answer like vLLM does where tinmen reads
exact choice probabilities through a server: `/tokenize` (text or chat messages to token
ids) and `/v1/completions` with token-id prompts and `prompt_logprobs`. A test computes the
same probabilities directly from `ToyLM.logprob`, with no HTTP in between.

- Tokens: an end token (id 0), every printable ASCII character and the newline, and a few
  longer pieces (`Choice`, ` 1`, ` 12`, ` none`, ...), so a label may be one token or
  several. `encode` takes the longest piece at each position; other characters become `?`.
- Next-token log-probabilities depend on the last token and on the sum of all the
  context's ids (so the whole prompt matters), through a fixed arithmetic formula: cheap,
  deterministic, and different from one context to the next.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

END = "<|end|>"
PIECES = ("Choice", "Choice: ", " 1", " 2", " 3", " 10", " 12", " none", "none", "no",
          "Option", " the")


class ToyLM:
    """The toy tokenizer and language model (see the module docstring)."""

    def __init__(self) -> None:
        chars = [chr(c) for c in range(32, 127)] + ["\n"]
        self.texts: list[str] = [END, *chars, *PIECES]
        self.ids = {text: i for i, text in enumerate(self.texts) if i > 0}
        self.longest = max(len(t) for t in self.texts[1:])
        self.unknown = self.ids["?"]

    @property
    def size(self) -> int:
        """Number of tokens."""
        return len(self.texts)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`: the longest known piece at each position."""
        out, at = [], 0
        while at < len(text):
            for width in range(min(self.longest, len(text) - at), 0, -1):
                token = self.ids.get(text[at:at + width])
                if token is not None:
                    out.append(token)
                    at += width
                    break
            else:
                out.append(self.unknown)
                at += 1
        return out

    def render_chat(self, messages: Sequence[Mapping[str, Any]],
                    add_generation_prompt: bool = True) -> str:
        """The toy chat template: one `role: content` line per message."""
        text = "".join(f"{m.get('role')}: {m.get('content')}\n" for m in messages)
        return text + ("assistant: " if add_generation_prompt else "")

    def logprob(self, context: Sequence[int], token: int) -> float:
        """log P(token | context)."""
        a, b = _state(context)
        return _logit(a, b, token) - _normaliser(a, b, self.size)

    def rank(self, context: Sequence[int], token: int) -> int:
        """1 + how many tokens are more likely than `token` after `context`."""
        a, b = _state(context)
        return _ranks(a, b, self.size)[token]

    def greedy(self, context: Sequence[int]) -> int:
        """The most likely next token."""
        a, b = _state(context)
        return _ranks(a, b, self.size).index(1)


def _state(context: Sequence[int]) -> tuple[int, int]:
    """What the next token depends on: the context's id sum (mod 211), its last token."""
    return sum(context) % 211, (context[-1] if context else 0)


def _logit(a: int, b: int, token: int) -> float:
    return ((a * 131 + b * 31 + token * 17) % 97) / 12.0


@lru_cache(maxsize=65536)
def _normaliser(a: int, b: int, size: int) -> float:
    return math.log(sum(math.exp(_logit(a, b, t)) for t in range(size)))


@lru_cache(maxsize=4096)
def _ranks(a: int, b: int, size: int) -> list[int]:
    order = sorted(range(size), key=lambda t: (-_logit(a, b, t), t))
    ranks = [0] * size
    for place, token in enumerate(order):
        ranks[token] = place + 1
    return ranks


def prompt_logprobs(lm: ToyLM, prompt: Sequence[int]) -> list[dict[str, Any] | None]:
    """vLLM's `prompt_logprobs: 0` for a token prompt: None first, then per position the
    prompt token's own log-prob, keyed by its id as a string (how JSON carries the map).
    vLLM also sends each token's `rank`; it is left out here (tinmen does not read it)."""
    out: list[dict[str, Any] | None] = [None]
    total = prompt[0] if prompt else 0
    for position in range(1, len(prompt)):
        token = prompt[position]
        a, b = total % 211, prompt[position - 1]  # `_state` of prompt[:position]
        out.append({str(token): {"logprob": _logit(a, b, token) - _normaliser(a, b, lm.size),
                                 "decoded_token": lm.texts[token]}})
        total += token
    return out


def answer_logprobs(lm: ToyLM, context: Sequence[int], answer: str, k: int
                    ) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """An answer's tokens after `context` as a server's `top_logprobs` report them: per
    token its text, its log-prob, and the `k` most likely tokens there (best first)."""
    out = []
    seen = list(context)
    for token in lm.encode(answer):
        a, b = _state(seen)
        norm = _normaliser(a, b, lm.size)
        ranks = _ranks(a, b, lm.size)
        best = sorted(range(lm.size), key=lambda t: ranks[t])[:k]
        out.append((lm.texts[token], _logit(a, b, token) - norm,
                    [(lm.texts[t], _logit(a, b, t) - norm) for t in best]))
        seen.append(token)
    return out
