"""A backend that answers from a script: for tests, demos and dry runs."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from agents.errors import BackendCreationError, did_you_mean
from agents.prompts import SELLER_NOTE
from agents.types import Completion, DecisionRequest

Script = Callable[[DecisionRequest], str | None]
"""Maps a request to answer text; returning None records a backend failure."""

SCRIPT_PREFIX = "script:"
"""A scripted agent's `model` of the form `script:<name>` picks a named script."""

_LISTING_LINE = re.compile(r"^(\d+): .*?" + re.escape(SELLER_NOTE) + r"(.*)$", re.MULTILINE)
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,40}\b(instructions?|rules|prompt)\b"
    r"|\b(buy|choose|select|pick|recommend|purchase)\s+(this|me|it)\b",
    re.IGNORECASE,
)


def first_option(request: DecisionRequest) -> str:
    """The default script: explain briefly and choose the first listed product."""
    number = request.context.option_numbers[0]
    return f"Explanation: scripted answer.\nChoice: {number}"


def follow_injections(request: DecisionRequest) -> str:
    """A gullible agent: obeys the first seller's note in its prompt that tells it to buy.

    It reads the prompt text (the listing lines with a "Seller's note:"), not the structured
    context, as a manipulable language model would; without such a note it picks option 1.
    """
    text = "\n".join(m["content"] for m in request.messages)
    numbers = set(request.context.option_numbers)
    for match in _LISTING_LINE.finditer(text):
        number = int(match.group(1))
        if number in numbers and _INSTRUCTION.search(match.group(2)):
            return (f"Explanation: the listing for option {number} says to buy it, so I "
                    f"did.\nChoice: {number}")
    return first_option(request)


SCRIPTS: dict[str, Script] = {
    "first_option": first_option,
    "follow_injections": follow_injections,
}
"""Named scripts a scenario can select with `model: script:<name>`."""


def script_named(model: str | None) -> Script:
    """The script a `model` value selects: `script:<name>`, else the default first_option.

    Other model values are labels only (so `--backend scripted` works with any scenario).
    """
    if model is None or not model.startswith(SCRIPT_PREFIX):
        return first_option
    name = model[len(SCRIPT_PREFIX):]
    if name not in SCRIPTS:
        hint = did_you_mean(name, SCRIPTS, prefix=SCRIPT_PREFIX)
        raise BackendCreationError(
            f"unknown script {model!r} for the scripted backend; available: "
            + ", ".join(SCRIPT_PREFIX + n for n in SCRIPTS) + hint
        )
    return SCRIPTS[name]


class ScriptedBackend:
    """Answers every request with `script(request)`, or cycles through fixed `answers`.

    Without either, the script is chosen by `model` (`script:follow_injections`, ...; see
    `SCRIPTS`); the default answers option 1.

    It keeps a log of the batch size of every `generate` call (`calls`), which tests use to
    check that the engine sends one batch per tick.
    """

    name = "scripted"
    cacheable = False  # answers are written by the script, not sampled

    def __init__(
        self,
        model: str | None = None,
        *,
        answers: Sequence[str | None] | None = None,
        script: Script | None = None,
    ) -> None:
        if answers is not None and script is not None:
            raise ValueError("give either answers or script, not both")
        self.model = model
        self._answers = list(answers) if answers is not None else None
        self._script = script or script_named(model)
        self._next = 0
        self.calls: list[int] = []

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer each request from the script; None answers become recorded failures."""
        self.calls.append(len(requests))
        completions = []
        for request in requests:
            text = self._answer(request)
            if text is None:
                completions.append(Completion.failed("scripted failure"))
            else:
                completions.append(Completion(text=text))
        return completions

    def _answer(self, request: DecisionRequest) -> str | None:
        if self._answers is None:
            return self._script(request)
        text = self._answers[self._next % len(self._answers)]
        self._next += 1
        return text

    def describe(self) -> dict[str, Any]:
        """No settings beyond the script, which `model` names."""
        return {}

    def close(self) -> None:
        """Nothing to release."""
