"""The entry point: `parse_choice` tries each reading in turn and never raises."""

from __future__ import annotations

import re
from collections.abc import Mapping

from agents.parsing.catalogue import _catalogue
from agents.parsing.choice_lines import _choice_line_numbers, _read_bare, _read_choice_lines
from agents.parsing.deferral import deferred, hands_back, in_question
from agents.parsing.json_answers import _read_json
from agents.parsing.prose import _listed_mentions, _read_prose
from agents.parsing.results import _EMPTY, ParsedChoice, _finish
from agents.parsing.text import _plain


def parse_choice(text: str | None, options: Mapping[int, str]) -> ParsedChoice:
    """Read the product an answer chose from a listing; never raises.

    ``options`` maps the numbers shown in the listing to product names. A number that is
    not a key of ``options`` is not a valid choice. See the module docstring for the order
    in which the readings are tried.
    """
    try:
        return _parse(text, options)
    except Exception as exc:  # the contract is to never raise, whatever the input
        return ParsedChoice(None, "unparsed", reason=f"parser error: {type(exc).__name__}")


# --------------------------------------------------------------------------- entry point

# The common case: the last non-blank line is a well-formed "Choice: N" (markdown allowed).
_FAST_RE = re.compile(
    r"[\s*_`>#-]*(?:(?:my|final|your)\s+){0,2}choice[\s*_`]*[:=-][\s*_`]*"
    r"[\[(#]?\s*(\d{1,30})\s*[\])]?[\s*_`.!]*",
    re.IGNORECASE,
)


_MAX_CHARS = 100_000  # longer answers are cut to their first and last 50,000 characters


def _parse(text: object, options: Mapping[int, str]) -> ParsedChoice:
    """Do the work of `parse_choice`; may raise on truly odd input."""
    if text is None:
        return _EMPTY
    if not isinstance(text, str):
        if not isinstance(text, bytes | bytearray | memoryview):
            return ParsedChoice(
                None, "unparsed", reason=f"answer is not text ({type(text).__name__})"
            )
        text = bytes(text).decode("utf-8", errors="replace")
    if not text or text.isspace():
        return _EMPTY

    fast = _fast_choice(text, options)
    if fast is not None:
        return fast

    if len(text) > _MAX_CHARS:
        # Real answers are a few kilobytes. Keep the opening (where prose answers decide)
        # and the end (where the choice line is) of anything huge, so junk cannot stall.
        half = _MAX_CHARS // 2
        text = text[:half] + "\n" + text[-half:]
    catalogue = _catalogue(options)
    plain = _plain(text)

    hand_back = hands_back(plain)
    if hand_back:
        offered = _choice_line_numbers(plain, catalogue)
        if len(offered) >= 2:  # "the Tesla [Choice: 1] or the Porsche [Choice: 2]?"
            return deferred(offered, catalogue)
    read = _read_choice_lines(plain, catalogue) or _read_bare(plain, catalogue)
    if read is not None:
        return _finish(read, "choice_line", catalogue)
    read = _read_json(text, catalogue)
    if read is not None:
        return _finish(read, "json", catalogue)
    prose = _read_prose(plain, catalogue)
    if hand_back:
        # Asked to choose, the customer gets the choice unless exactly one product was
        # named and chosen ("I recommend the Tesla; let me know if you'd like me to order").
        # A product named only in a question ("would you prefer the X?") is offered.
        mentions = _listed_mentions(plain, catalogue)
        mentioned = {number for _, number in mentions}
        if not (prose.valid and mentioned == {prose.choice}) or all(
            in_question(plain, pos) for pos, _ in mentions
        ):
            return deferred(mentioned, catalogue)
    return prose


def _fast_choice(text: str, options: Mapping[int, str]) -> ParsedChoice | None:
    """Read a well-formed final ``Choice: N`` line with a single regex, or return None."""
    end = len(text)
    while end and text[end - 1].isspace():
        end -= 1
    start = text.rfind("\n", 0, end) + 1
    match = _FAST_RE.fullmatch(text, start, end)
    if match is None:
        return None
    number = int(match.group(1))
    # Anything unusual (a number not listed, keys that are not ints) takes the full path.
    try:
        listed = number in options
    except TypeError:  # options is not a mapping; the full path copes with that
        return None
    return ParsedChoice(number, "choice_line") if listed else None
