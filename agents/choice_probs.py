"""Choice probabilities: which text continues an answer with each listed option.

A decision's choice probabilities are P(option) for every listed option in listing order,
then P(`none`) (a refusal), as `Completion.choice_probs`. This module holds the part every
backend shares, with no model code:

- `option_labels`: the labels in that order (`"1"`, ..., `"12"`, `"none"`);
- `choice_position`: where the choice begins in an answer the model wrote (after the last
  `Choice:` line, or inside a JSON answer's `"choice": "`), so probabilities are read at the
  choice position of the answer actually written: *conditional* on its explanation;
- `direct_targets`: for the `choice` form (the whole answer is `Choice: <label>`), the whole
  answers, scored from the prompt: the model's *direct*, unconditional choice distribution;
- `read_top_logprobs`: the distribution read from a server's per-token top-k log-probs,
  where a label needing a token outside the top-k has an unknown (None) probability and the
  covered mass says so.

A label is complete when the text after it does not continue it (`1` is not the start of
`12`): the next character is not a letter or digit, or the answer ends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.structured import REFUSAL
from agents.types import DecisionRequest

CONDITIONAL = "conditional"
"""Probabilities read at the choice position of the answer the model wrote."""
DIRECT = "direct"
"""Probabilities of whole answers that are only the choice line (the `choice` form)."""

_CHOICE_LINE = re.compile(r"choice\s*[:=]\s*", re.IGNORECASE)
_JSON_CHOICE = re.compile(r'"choice"\s*:\s*"', re.IGNORECASE)
DIRECT_PREFIX = "Choice: "
"""What every answer of the `choice` form starts with (see `agents.structured`)."""


def option_labels(request: DecisionRequest) -> tuple[str, ...]:
    """The labels whose probabilities are recorded: listing numbers, then `none`."""
    return tuple(str(n) for n in request.context.option_numbers) + (REFUSAL,)


def choice_position(text: str | None) -> int | None:
    """Character index where the choice label begins in `text`, or None when none does.

    The last `Choice:` (or JSON `"choice": "`) in the answer wins, as it does for the parser.
    """
    if not text:
        return None
    found = [m.end() for pattern in (_JSON_CHOICE, _CHOICE_LINE) for m in pattern.finditer(text)]
    return max(found) if found else None


def direct_targets(labels: Sequence[str]) -> list[str]:
    """The whole answers of the `choice` form, one per label."""
    return [DIRECT_PREFIX + label for label in labels]


def label_ends(text: str, at: int) -> bool:
    """True when a label ending at `at` is complete: the text ends or leaves the label."""
    return at >= len(text) or not text[at].isalnum()


@dataclass(frozen=True, slots=True)
class TokenChoices:
    """One generated token and the top-k alternatives the server returned for its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]


def read_top_logprobs(answer: str, tokens: Sequence[TokenChoices], labels: Sequence[str]
                      ) -> tuple[tuple[float | None, ...], float] | None:
    """Per-label probabilities (None = unknown) and the mass they cover, from top-k log-probs.

    The position is the token where the choice begins. An alternative there that spells a
    whole label gives its probability; a label that needs more tokens is followed along the
    tokens the model actually wrote, as far as they agree with it. Where the label ends on
    the written path, the next position's alternatives that leave the label give the chance
    that it ends there; off the written path a label is taken to end when no other listed
    label continues it (`1` ends unless `10`..`19` are listed). A label no returned
    alternative reaches is unknown (None). The mass is the sum of the known probabilities,
    less than 1 by what the top-k lists left out. None when the answer has no choice
    position or the tokens do not spell the answer.
    """
    start = choice_position(answer)
    if start is None or "".join(t.token for t in tokens) != answer:
        return None
    at, index = 0, None
    for k, token in enumerate(tokens):
        if at + len(token.token) > start:
            index = k
            break
        at += len(token.token)
    if index is None:
        return None
    lead = answer[at:start]  # text of the choice token before the label
    probs: list[float | None] = []
    for label in labels:
        extended = any(other != label and other.startswith(label) for other in labels)
        total, found = _resolve(lead + label, tokens, index, 0.0, extended)
        probs.append(total if found else None)
    return tuple(probs), float(sum(p for p in probs if p is not None))


def _resolve(target: str, tokens: Sequence[TokenChoices], k: int, logp: float,
             extended: bool) -> tuple[float, bool]:
    """Known P(target spelled from position k, then ended); whether any alternative reached it."""
    total, found = 0.0, False
    written = tokens[k].token
    for text, lp in _alternatives(tokens[k]):
        if len(text) > len(target) and text.startswith(target) and label_ends(text, len(target)):
            total, found = total + math.exp(logp + lp), True  # spells it, then leaves it
        elif text == target:
            if text == written and k + 1 == len(tokens):
                total, found = total + math.exp(logp + lp), True  # the answer ends there
            elif text == written:
                ends = sum(math.exp(v) for t2, v in _alternatives(tokens[k + 1])
                           if label_ends(t2, 0))
                total, found = total + math.exp(logp + lp) * ends, True
            elif not extended:
                total, found = total + math.exp(logp + lp), True
        elif (text == written and len(text) < len(target) and target.startswith(text)
              and k + 1 < len(tokens)):
            sub, sub_found = _resolve(target[len(text):], tokens, k + 1, logp + lp, extended)
            total, found = total + sub, found or sub_found
    return total, found


def _alternatives(token: TokenChoices) -> list[tuple[str, float]]:
    """The returned alternatives, with the written token added when the list lacks it."""
    options = list(token.top)
    if token.token not in {text for text, _ in options}:
        options.append((token.token, token.logprob))
    return options
