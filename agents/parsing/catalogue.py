"""The listing as the parser sees it: numbers, product names and their short forms."""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import NamedTuple

from agents.parsing.text import _plain, _squash

# --------------------------------------------------------------------------- the listing


class _Catalogue(NamedTuple):
    """What the parser needs to know about one listing, built once per listing."""

    numbers: frozenset[int]
    listed: str  # "[1, 2]", for reasons
    owner: dict[str, int]  # normalised alias -> listing number
    name_re: re.Pattern[str] | None  # any alias, longest first


# Words that never make a name distinctive on their own: function words, and the generic
# nouns and common words a model uses about any product ("this car", "you will love it").
_FUNCTION_WORDS = frozenset(
    "a an and as at by de del der des di die du el for from in into is it its la le les "
    "of on or the this that to vs with your my our".split()
)
_GENERIC_WORDS = frozenset(
    "car cars vehicle vehicles auto film films movie movies documentary product products "
    "option options item items model models version edition series set pack kit brand "
    "choice price deal offer new old best good great nice love life time day night world "
    "one two three first second last plus pro max mini will can may just like make get "
    "man woman home house family story book game show part".split()
)
_MAX_GRAM = 6  # longest short form considered, in words
_EDGE_PUNCT = ".,:;!?\"'()[]{}"
_BRACKETED_RE = re.compile(r"[(\[][^)\]]*[)\]]")
_BRACKETED_INNER_RE = re.compile(r"[(\[]([^)\]]*)[)\]]")
_ALNUM_RE = re.compile(r"[^\W_]")


def _catalogue(options: Mapping[int, str]) -> _Catalogue:
    """The (cached) catalogue for a listing; odd keys and names are coerced or skipped."""
    items_of = getattr(options, "items", None)
    items: list[tuple[int, str]] = []
    if callable(items_of):
        for key, name in items_of():
            number = _as_number(key)
            if number is not None:
                items.append((number, "" if name is None else str(name)))
    return _build_catalogue(tuple(items))


def _as_number(key: object) -> int | None:
    """A listing number from a mapping key: integers, and strings of digits."""
    if isinstance(key, bool):
        return None
    if isinstance(key, str):
        return int(key.strip()) if key.strip().isdigit() else None
    try:
        return operator.index(key)  # int, and integer types such as numpy.int64
    except TypeError:
        return None


@lru_cache(maxsize=1024)
def _build_catalogue(items: tuple[tuple[int, str], ...]) -> _Catalogue:
    """Build the alias table and the name regex for one listing."""
    full: dict[str, set[int]] = {}
    short: dict[str, set[int]] = {}
    for number, name in items:
        full_forms, short_forms = _name_forms(name)
        for alias in full_forms:
            full.setdefault(alias, set()).add(number)
        for alias in short_forms:
            short.setdefault(alias, set()).add(number)

    owner: dict[str, int] = {}
    for alias, numbers in full.items():
        owner[alias] = min(numbers)  # two products with the same name: the first one
    for alias, numbers in short.items():
        # A short form counts only when no other product shares it.
        if len(numbers) == 1 and alias not in full:
            owner[alias] = next(iter(numbers))

    name_re = None
    if owner:
        # Longest first, so "tesla model 3" wins over "model 3" at the same position.
        aliases = sorted(owner, key=lambda a: (-len(a), a))
        body = "|".join(r"\s+".join(re.escape(w) for w in a.split()) for a in aliases)
        name_re = re.compile(rf"(?<![^\W_])(?:{body})(?![^\W_])")

    numbers = frozenset(number for number, _ in items)
    return _Catalogue(numbers, str(sorted(numbers)), owner, name_re)


def _name_forms(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The full forms of a product name and its candidate short forms, normalised.

    Full forms are the name itself and the name without any bracketed description
    ("Glory of the Fatherland"). Short forms are distinctive runs of words from the name or
    from its description ("Model 3", "Fatherland", "propaganda documentary").
    """
    norm = _squash(_plain(name))
    if not _ALNUM_RE.search(norm):
        return (), ()
    full = {norm}
    base = _squash(_BRACKETED_RE.sub(" ", norm))
    if _ALNUM_RE.search(base):
        full.add(base)

    short: set[str] = set()
    for part in [base, *_BRACKETED_INNER_RE.findall(norm)]:
        words = [w.strip(_EDGE_PUNCT) for w in part.split()]
        words = [w for w in words if w]
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + _MAX_GRAM) + 1):
                if _distinctive(words[i:j]):
                    short.add(" ".join(words[i:j]))
    return tuple(full), tuple(short - full)


def _distinctive(words: list[str]) -> bool:
    """Whether a run of words could identify a product on its own."""
    if len(words) == 1:
        word = words[0]
        return (
            len(word) >= 3
            and any(c.isalpha() for c in word)
            and word not in _FUNCTION_WORDS
            and word not in _GENERIC_WORDS
        )
    if words[0] in _FUNCTION_WORDS or words[-1] in _FUNCTION_WORDS:
        return False
    # "model 3" is distinctive although neither word is on its own.
    return any(w not in _FUNCTION_WORDS and w not in _GENERIC_WORDS for w in words)


def _name_mentions(text: str, catalogue: _Catalogue, pos: int = 0) -> Iterator[re.Match[str]]:
    """Every mention of a listed product's name in ``text`` from ``pos`` on."""
    if catalogue.name_re is None:
        return iter(())
    return catalogue.name_re.finditer(text, pos)


def _owner(match: re.Match[str], catalogue: _Catalogue) -> int:
    """The listing number a name match refers to."""
    return catalogue.owner[_squash(match.group(0))]
