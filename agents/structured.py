"""Structured output: the form an answer is held to while it is decoded.

The prompt asks for a short explanation and a final line `Choice: <number>` (or
`Choice: none`). With structured output on, the decoder can only produce such answers:

- `choice`: exactly one of `Choice: 1`, ..., `Choice: none` (no explanation);
- `regex`: one line of explanation (at most `explanation_max_chars`), then the choice line;
- `json`: `{"explanation": "...", "choice": "<number>" | "none"}`, explanation first so the
  model reasons before it commits.

Every form is one `agents.parsing.parse_choice` reads, so constrained answers go through the
same parser as free ones. The listed numbers come from the request's context, so the
constraint always matches the listing the prompt shows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agents.types import DecisionRequest

REFUSAL = "none"
"""What the choice line says when the agent buys nothing."""


@dataclass(frozen=True, slots=True)
class AnswerConstraint:
    """The constraint for one request, in every form a backend may need."""

    mode: str
    labels: tuple[str, ...]
    explanation_max_chars: int

    @property
    def choices(self) -> list[str]:
        """The whole answers `choice` mode allows."""
        return [f"Choice: {label}" for label in self.labels]

    @property
    def regex(self) -> str:
        """A regex for the whole answer (`regex` mode; `choice` mode as an alternation)."""
        alternatives = "|".join(re.escape(label) for label in self.labels)
        if self.mode == "choice":
            return f"Choice: ({alternatives})"
        return f"[^\\n]{{1,{self.explanation_max_chars}}}\\nChoice: ({alternatives})"

    def json_schema(self, *, bounded: bool = True) -> dict[str, Any]:
        """The JSON schema (`json` mode); `bounded=False` drops the length limit."""
        explanation: dict[str, Any] = {"type": "string"}
        if bounded:
            explanation["maxLength"] = self.explanation_max_chars
        return {
            "type": "object",
            "properties": {
                "explanation": explanation,
                "choice": {"type": "string", "enum": list(self.labels)},
            },
            "required": ["explanation", "choice"],
            "additionalProperties": False,
        }

    def key(self) -> str:
        """A stable text identifying this constraint (cache keys, grammar caches)."""
        return json.dumps([self.mode, list(self.labels), self.explanation_max_chars])


def answer_constraint(request: DecisionRequest, mode: str,
                      explanation_max_chars: int = 600) -> AnswerConstraint | None:
    """The constraint `mode` puts on `request`'s answer, or None when `mode` is `none`."""
    if mode == "none":
        return None
    if mode not in ("choice", "regex", "json"):
        raise ValueError(f"unknown structured_output mode {mode!r}")
    labels = tuple(str(n) for n in request.context.option_numbers) + (REFUSAL,)
    return AnswerConstraint(mode, labels, explanation_max_chars)


def vllm_structured_outputs(constraint: AnswerConstraint) -> dict[str, Any]:
    """vLLM's `structured_outputs` request field (vLLM 0.11 and later)."""
    if constraint.mode == "choice":
        return {"choice": constraint.choices}
    if constraint.mode == "regex":
        return {"regex": constraint.regex}
    return {"json": constraint.json_schema()}


def openai_response_format(constraint: AnswerConstraint) -> dict[str, Any]:
    """OpenAI's `response_format` for `json` mode (strict schemas take no length limits)."""
    if constraint.mode != "json":
        raise ValueError(f"OpenAI's API cannot constrain an answer to {constraint.mode!r}")
    return {"type": "json_schema",
            "json_schema": {"name": "decision", "strict": True,
                            "schema": constraint.json_schema(bounded=False)}}
