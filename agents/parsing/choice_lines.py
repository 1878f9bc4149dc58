"""Labelled answers (``Choice: 2``) and answers that are only a number."""

from __future__ import annotations

import re
from collections.abc import Iterator

from agents.parsing.catalogue import _Catalogue
from agents.parsing.results import _REFUSAL_READ, _Read
from agents.parsing.values import _VALUE_REFUSAL_RE, _name_at_start, _read_value

# --------------------------------------------------------------------------- choice lines

_LABEL_HINT_RE = re.compile(r"choice|selection|answer|pick|decision")
_LABEL_RE = re.compile(
    r"""
      (?:^|(?<=[.!?])\s+)                    # at the start of the line or of a sentence
      (?:[a-z'-]+\s+){0,3}?                  # "my", "final", "my final", "product" ...
      (?:choice|selection|answer|pick|decision)
      (?:\s*\(s\))?
      (?:\s*[:=-]+\s*|\s+(?=[\[(\#]?\d+\W*$))  # a separator, or none before a bare number
    | (?<![\w"'])(?:choice|selection)\s*:\s*   # "choice:" anywhere, but not a quoted key
    """,
    re.VERBOSE,
)
_LINE_PREFIX_RE = re.compile(r"[\s#>|]*(?:[-+\u2022]\s+)?")


def _read_choice_lines(plain: str, catalogue: _Catalogue) -> _Read | None:
    """The reading of the last choice line whose value can be read, or None."""
    return next(_choice_line_reads(plain, catalogue), None)


def _choice_line_numbers(plain: str, catalogue: _Catalogue) -> set[int]:
    """Every listed number some choice line of the answer names."""
    numbers: set[int] = set()
    for read in _choice_line_reads(plain, catalogue):
        if read.kind == "number" and read.number in catalogue.numbers:
            numbers.add(read.number)
        elif read.kind == "ambiguous":
            numbers.update(n for n in read.numbers if n in catalogue.numbers)
    return numbers


def _choice_line_reads(plain: str, catalogue: _Catalogue) -> Iterator[_Read]:
    """The readings of every choice line whose value can be read, last first."""
    if not _LABEL_HINT_RE.search(plain):
        return
    lines = plain.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if not _LABEL_HINT_RE.search(line):
            continue
        line = line[_LINE_PREFIX_RE.match(line).end() :]  # type: ignore[union-attr]
        labels = list(_LABEL_RE.finditer(line))
        for k in range(len(labels) - 1, -1, -1):
            stop = labels[k + 1].start() if k + 1 < len(labels) else len(line)
            value = line[labels[k].end() : stop]
            if not value.strip() and stop == len(line):
                # "**Choice:**" with the value on the next line.
                value = _next_nonblank(lines, index)
            read = _read_value(value, catalogue)
            if read is not None:
                yield read


def _next_nonblank(lines: list[str], index: int) -> str:
    """The first non-blank line after ``lines[index]`` (within two lines), or ""."""
    for line in lines[index + 1 : index + 3]:
        if line.strip():
            return line[_LINE_PREFIX_RE.match(line).end() :]  # type: ignore[union-attr]
    return ""


_BARE_NUMBER_RE = re.compile(r"[\[(#]?\s*(\d{1,30})\s*[\])]?[.!]?")


def _read_bare(plain: str, catalogue: _Catalogue) -> _Read | None:
    """An answer that is nothing but a number ("2") or a refusal word ("None.")."""
    stripped = plain.strip()
    if len(stripped) > 40:
        return None
    match = _BARE_NUMBER_RE.fullmatch(stripped)
    if match is not None:
        number = int(match.group(1))
        if number not in catalogue.numbers:
            # A film called "1984" answered by name.
            return _name_at_start(stripped, catalogue) or _Read("number", number)
        return _Read("number", number)
    if _VALUE_REFUSAL_RE.fullmatch(stripped.rstrip(".!")):
        return _REFUSAL_READ
    return None
