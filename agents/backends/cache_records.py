"""What the response cache stores with an answer besides its text, and how it is read back.

An answer longer than the run's `run.max_stored_answer_chars` (`DecisionRequest.
max_stored_chars`) is stored cut, as run files store it, together with what a replay needs
to make the same decision: the reading of the WHOLE answer (`agents.parsing.ParsedChoice`:
choice, method, refusal, reason, unlisted number) and the whole answer's length. On the way
back the stored reading is handed to the engine as `Completion.parsed`, so the cut text is
never parsed again. An answer within the limit is stored whole, with no reading, and is
parsed on replay exactly as when it was first answered.
"""

from __future__ import annotations

import json
from typing import Any

from agents.parsing import ParsedChoice, parse_choice
from agents.types import Completion, DecisionRequest


def text_to_store(request: DecisionRequest, completion: Completion
                  ) -> tuple[str, int | None, str | None]:
    """(text, whole length or None, reading JSON or None) to store for an answered request.

    The text is cut to `request.max_stored_chars` when longer; the reading is then computed
    from the whole answer (or taken from `completion.parsed` when a wrapper already read it).
    """
    text = completion.text or ""
    limit = request.max_stored_chars
    if completion.answer_chars is not None:  # already cut (read from a cache): keep as is
        return text, completion.answer_chars, reading_to_store(
            completion.parsed or parse_choice(text, request.context.options))
    if limit is None or len(text) <= limit:
        return text, None, None
    parsed = completion.parsed or parse_choice(text, request.context.options)
    return text[:limit], len(text), reading_to_store(parsed)


def reading_to_store(parsed: ParsedChoice) -> str:
    """A reading as stored with a cut answer (JSON)."""
    return json.dumps({"choice": parsed.choice, "method": parsed.method,
                       "refused": parsed.refused, "reason": parsed.reason,
                       "unlisted": parsed.unlisted})


def stored_reading(text: str | None) -> ParsedChoice | None:
    """The reading stored with a cut answer, or None for an answer stored whole."""
    if not text:
        return None
    stored = json.loads(text)
    return ParsedChoice(stored["choice"], stored["method"], refused=bool(stored["refused"]),
                        reason=stored["reason"], unlisted=stored["unlisted"])


def for_request(request: DecisionRequest, completion: Completion) -> Completion:
    """A fresh copy of a cached answer for one request (two requests may share one key).

    A cut answer is cut further when this run stores shorter answers than the run that
    filled the cache, so the run files show the length this run allows; its reading and
    whole length go with it unchanged.
    """
    text = completion.text
    limit = request.max_stored_chars
    if (completion.answer_chars is not None and text is not None and limit is not None
            and len(text) > limit):
        text = text[:limit]
    return Completion(text=text, failure=completion.failure,
                      prompt_tokens=completion.prompt_tokens,
                      completion_tokens=completion.completion_tokens, attempts=0, cached=True,
                      finish_reason=completion.finish_reason,
                      choice_probs=completion.choice_probs,
                      choice_prob_mass=completion.choice_prob_mass,
                      choice_probs_kind=completion.choice_probs_kind,
                      choice_probs_error=completion.choice_probs_error,
                      parsed=completion.parsed, answer_chars=completion.answer_chars)


def probs_to_store(completion: Completion) -> str | None:
    """A completion's choice probabilities as stored with its answer (JSON), or None."""
    if completion.choice_probs is None:
        if completion.choice_probs_error is None:
            return None
        return json.dumps({"p": None, "mass": None, "kind": None,
                           "error": completion.choice_probs_error})
    return json.dumps({"p": list(completion.choice_probs), "mass": completion.choice_prob_mass,
                       "kind": completion.choice_probs_kind})


def stored_probs(text: str | None) -> dict[str, Any]:
    """`Completion` keyword arguments for stored choice probabilities ({} when none)."""
    if not text:
        return {}
    stored = json.loads(text)
    return {"choice_probs": None if stored["p"] is None else tuple(stored["p"]),
            "choice_prob_mass": stored["mass"], "choice_probs_kind": stored["kind"],
            "choice_probs_error": stored.get("error")}
