"""A backend that answers from a script: for tests, demos and dry runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agents.types import Completion, DecisionRequest

Script = Callable[[DecisionRequest], str | None]
"""Maps a request to answer text; returning None records a backend failure."""


def first_option(request: DecisionRequest) -> str:
    """The default script: explain briefly and choose the first listed product."""
    number = request.context.option_numbers[0]
    return f"Explanation: scripted answer.\nChoice: {number}"


class ScriptedBackend:
    """Answers every request with `script(request)`, or cycles through fixed `answers`.

    It keeps a log of the batch size of every `generate` call (`calls`), which tests use to
    check that the engine sends one batch per tick.
    """

    name = "scripted"

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
        self._script = script or first_option
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

    def close(self) -> None:
        """Nothing to release."""
