"""Reading the value after a choice label (or in a JSON string): number, name, refusal."""

from __future__ import annotations

import re

from agents.parsing.catalogue import _Catalogue, _name_mentions, _owner
from agents.parsing.results import _REFUSAL_READ, _Read

# --------------------------------------------------------------------------- values

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
# "2", "[2]", "#2", "product 2", "product id: 2", "option #2", "no. 2", "two".
_VALUE_NUMBER_RE = re.compile(
    r"""
    (?:(?:product|option|item|listing|number|no|id|buy|purchase|the)\b\.?\s*[:#.]?\s*
      |[#\[(<]\s*)*
    (?:(?P<digits>\d{1,30})(?!\d|[.,]\d)
      |(?P<word>one|two|three|four|five|six|seven|eight|nine|ten)
       (?=\s*(?:$|[\])(.,:;!/-])))
    """,
    re.VERBOSE,
)
# "1 or 2", "1, 2", "1/2": more than one number, which is no choice at all.
_MORE_NUMBERS_RE = re.compile(
    r"\s*(?:,|/|&|\bor\b|\band\b)\s*(?:(?:product|option|item)\s*)?#?\s*(\d{1,30})(?!\d)"
)
_VALUE_NAME_PREFIX_RE = re.compile(
    r"(?:(?:the|a|an|product|option|item|buy|purchase|i\s+(?:choose|pick|select|recommend))"
    r"\b\s*[:#-]?\s*|[\[(\"']\s*)*"
)
_VALUE_REFUSAL_RE = re.compile(
    r"(?:none|neither|nothing|null|nil|n\s*/\s*a|not\s+applicable|abstain|pass|declined?"
    r"|refused?|no(?:\s+(?:choice|product|purchase|selection|option|thanks))?|-+)(?![\w/])"
)
# Gaps between two mentions that make them one list ("the tesla or the ford").
_CONTINUATION_RE = re.compile(
    r"[\s,/()\[\]:\"'#-]*(?:(?:or|and|either|nor|the|a|an|aka|i\.e\.)[\s,/()\[\]:\"'#-]+)*"
)


# The answer form echoed before the value: "[numeric product ID, digits only] 2",
# "<product number> 2". A placeholder holds a letter; "[2]" is a value, not a placeholder.
_PLACEHOLDER_RE = re.compile(
    r"(?:<[^<>\n]{0,80}>|\[[^\[\]\n]{0,80}\]|\{[^{}\n]{0,80}\}|\([^()\n]{0,80}\))"
    r"[\s:=-]*"
)
_LETTER_RE = re.compile(r"[a-z]")


def _read_value(value: str, catalogue: _Catalogue) -> _Read | None:
    """Read what follows a choice label (or a JSON string): number, name or refusal.

    An echoed placeholder before the value ("<product number> 2") is skipped when the
    value cannot be read with it.
    """
    value = value.strip().strip("\"'").strip()
    if not value:
        return None
    read = _read_plain_value(value, catalogue)
    if read is not None:
        return read
    placeholder = _PLACEHOLDER_RE.match(value)
    if placeholder is not None and _LETTER_RE.search(value, 0, placeholder.end()):
        rest = value[placeholder.end() :]
        if rest.strip() and not _PLACEHOLDER_RE.match(rest):
            return _read_plain_value(rest.strip(), catalogue)
    return None


def _read_plain_value(value: str, catalogue: _Catalogue) -> _Read | None:
    """Read a stripped, non-empty value: a number, a product name or a refusal word."""
    match = _VALUE_NUMBER_RE.match(value)
    if match is not None:
        number = _number_of(match)
        more = _MORE_NUMBERS_RE.match(value, match.end())
        if more is not None and int(more.group(1)) != number:
            return _Read("ambiguous", numbers=(number, int(more.group(1))))
        if number in catalogue.numbers:
            return _Read("number", number)
        # A product whose name starts with digits ("1984") is still read by name.
        return _name_at_start(value, catalogue) or _Read("number", number)
    named = _name_at_start(value, catalogue)
    if named is not None:
        return named
    if _VALUE_REFUSAL_RE.match(value):
        return _REFUSAL_READ
    return None


def _number_of(match: re.Match[str]) -> int:
    """The number in a `_VALUE_NUMBER_RE` match, digits or a word."""
    digits = match.group("digits")
    return int(digits) if digits is not None else _NUMBER_WORDS[match.group("word")]


def _name_at_start(value: str, catalogue: _Catalogue) -> _Read | None:
    """The product a value names at its very start ("Tesla Model 3 (electric)")."""
    if catalogue.name_re is None:
        return None
    prefix_end = _VALUE_NAME_PREFIX_RE.match(value).end()  # type: ignore[union-attr]
    for pos in dict.fromkeys((0, prefix_end)):
        first = catalogue.name_re.match(value, pos)
        if first is None:
            continue
        number = _owner(first, catalogue)
        # "Tesla Model 3 or Ford Explorer" names two products: no choice.
        for other in _name_mentions(value, catalogue, first.end()):
            other_number = _owner(other, catalogue)
            if other_number != number and _CONTINUATION_RE.fullmatch(
                value, first.end(), other.start()
            ):
                return _Read("ambiguous", numbers=(number, other_number))
            break
        return _Read("number", number)
    return None
