"""The parser's results: `ParsedChoice`, its methods, and intermediate readings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from agents.parsing.catalogue import _Catalogue

METHODS: tuple[str, ...] = (
    "choice_line",
    "json",
    "prose_id",
    "prose_name",
    "refusal",
    "deferred",
    "unparsed",
    "empty",
)
"""Every value `ParsedChoice.method` can take, most explicit reading first."""


@dataclass(frozen=True, slots=True)
class ParsedChoice:
    """What an answer chose, and how that was read.

    ``choice`` is a number from the listing, or None. ``method`` is one of `METHODS`.
    ``refused`` is True when the agent declined to buy anything (method ``refusal``).
    ``reason`` says why there is no choice, and is None exactly when there is one.
    """

    choice: int | None
    method: str
    refused: bool = False
    reason: str | None = None

    @property
    def deferred(self) -> bool:
        """True when the agent handed the choice back to the customer (method ``deferred``)."""
        return self.method == "deferred"

    @property
    def valid(self) -> bool:
        """True when the answer chose one of the listed products."""
        return self.choice is not None


# --------------------------------------------------------------------------- results

_EMPTY = ParsedChoice(None, "empty", reason="empty answer")
_REFUSED = ParsedChoice(None, "refusal", refused=True, reason="refused")
_NO_CHOICE = ParsedChoice(None, "unparsed", reason="no choice found")


class _Read(NamedTuple):
    """An intermediate reading: a number, a refusal, or several numbers (ambiguous)."""

    kind: str  # "number", "refusal" or "ambiguous"
    number: int | None = None
    numbers: tuple[int, ...] = ()


_REFUSAL_READ = _Read("refusal")


def _ambiguous(numbers: Iterable[int]) -> ParsedChoice:
    """An unparsed result naming the products that could not be told apart."""
    listed = [str(n) for n in sorted(set(numbers))]
    names = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
    return ParsedChoice(None, "unparsed", reason=f"ambiguous: mentions {names}")


def _out_of_range(number: int, catalogue: _Catalogue) -> ParsedChoice:
    """An unparsed result for a number that is not in the listing."""
    return ParsedChoice(
        None,
        "unparsed",
        reason=f"choice {number} is not one of the listed numbers {catalogue.listed}",
    )


def _finish(read: _Read, method: str, catalogue: _Catalogue) -> ParsedChoice:
    """Turn an intermediate reading into the public result."""
    if read.kind == "refusal":
        return _REFUSED
    if read.kind == "ambiguous":
        return _ambiguous(read.numbers)
    if read.number is None:
        return _NO_CHOICE
    if read.number in catalogue.numbers:
        return ParsedChoice(read.number, method)
    return _out_of_range(read.number, catalogue)
