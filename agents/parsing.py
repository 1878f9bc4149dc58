"""Read which product a shopping agent chose from its free-text answer.

The agent is shown a numbered listing and asked for a short explanation followed by a final
line ``Choice: <product number>`` (or ``Choice: none``). Real models often ignore that form,
so `parse_choice` tries several readings, most explicit first, and the first that applies
wins:

1. **Choice line** (``choice_line``). A labelled answer such as ``Choice: 2``,
   ``**Final choice:** Product 2`` or ``Choice: Tesla Model 3``. It comes first because it
   is what the prompt asks for: when a model writes one, it is its own summary of its
   decision, even if the explanation above it argues, hedges or apologises. The *last*
   such line wins, since models sometimes restate or correct themselves. ``Choice: none``
   (``N/A``, ``None of these`` ...) is a refusal. A whole answer that is only a number
   (``2``) is read the same way.
2. **JSON** (``json``). An object, bare or in a fenced block, with a key such as
   ``choice``, ``product_id`` or ``selection``; ``null`` or ``"none"`` is a refusal.
   Structured output is explicit, but it only comes second because a JSON object can
   also be an incidental part of a longer answer.
3. **Prose** (``prose_id`` / ``prose_name``). Answers that ignore the form: "I recommend
   product 2", "The best option for you is the Ford Explorer". Every mention of a listed
   product (by id or by a distinctive part of its name) gets a standing from the words
   around it: endorsed (the object of recommend, choose, buy, "the best option is" ...),
   praised ("... is a good choice"), rejected (after unlike, rather than, over, not, a
   negated verb, or a refusal earlier in the same clause) or neutral. The one product
   with the best standing is the choice. A tie is reported as ambiguous rather than
   guessed, and so is a prose answer that only lists facts about several products.
   Short forms of a name ("Model 3", "Explorer") count only when no other listed product
   shares them, and generic words ("car", "film", "love") never do.
4. **Refusal** (``refusal``). "I'm sorry, but I cannot purchase ..." with nothing
   endorsed. It comes after prose so that "I cannot buy the propaganda film, but I
   recommend the romantic comedy" reads as a choice, while a refusal still beats a
   merely neutral mention of a product, unless the refusal was only about another
   product ("I cannot buy X. Y is a lovely film." chooses Y).
5. Otherwise ``unparsed`` with a reason; ``empty`` when there is no text at all.

The engine parses every answer of every tick, so a well-formed final ``Choice: N`` line is
recognised by one precompiled regex on the last line before anything else is built; the
per-listing name tables are cached. Answers over 100,000 characters are cut to their
first and last 50,000. `parse_choice` never raises: anything unexpected is reported as
an unparsed answer with the error's type as the reason.
"""

import bisect
import json
import operator
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = ["METHODS", "ParsedChoice", "parse_choice"]

METHODS: tuple[str, ...] = (
    "choice_line",
    "json",
    "prose_id",
    "prose_name",
    "refusal",
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
    ``unlisted`` is the number the answer chose when it is not in the listing (a choice of an
    option that seller text forged, for instance), else None.
    """

    choice: int | None
    method: str
    refused: bool = False
    reason: str | None = None
    unlisted: int | None = None

    @property
    def valid(self) -> bool:
        """True when the answer chose one of the listed products."""
        return self.choice is not None


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


def _out_of_range(number: int, catalogue: "_Catalogue") -> ParsedChoice:
    """An unparsed result for a number that is not in the listing."""
    return ParsedChoice(
        None,
        "unparsed",
        reason=f"choice {number} is not one of the listed numbers {catalogue.listed}",
        unlisted=number,
    )


def _finish(read: _Read, method: str, catalogue: "_Catalogue") -> ParsedChoice:
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

    read = _read_choice_lines(plain, catalogue) or _read_bare(plain, catalogue)
    if read is not None:
        return _finish(read, "choice_line", catalogue)
    read = _read_json(text, catalogue)
    if read is not None:
        return _finish(read, "json", catalogue)
    return _read_prose(plain, catalogue)


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


# --------------------------------------------------------------------------- text clean-up

_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "\uff1a": ":",
        "\u200b": None,
        "\ufeff": None,
    }
)
# Markdown emphasis and code marks; underscores only when they are not inside a word.
_MARKUP_RE = re.compile(r"[*`]+|(?<![^\W_])_+|_+(?![^\W_])")
_SPACE_RE = re.compile(r"\s+")


def _plain(text: str) -> str:
    """Lower-case the text, unify quotes and dashes, and drop markdown emphasis."""
    if not text.isascii():  # translate is slow, and ASCII text has nothing to unify
        text = text.translate(_CHAR_MAP)
    return _MARKUP_RE.sub("", text.lower())


def _squash(text: str) -> str:
    """Collapse runs of whitespace to single spaces and strip the ends."""
    return _SPACE_RE.sub(" ", text).strip()


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
      |[#\[(]\s*)*
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


def _read_value(value: str, catalogue: _Catalogue) -> _Read | None:
    """Read what follows a choice label (or a JSON string): number, name or refusal."""
    value = value.strip().strip("\"'").strip()
    if not value:
        return None
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
    if not _LABEL_HINT_RE.search(plain):
        return None
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
                return read
    return None


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


# --------------------------------------------------------------------------- JSON

# Keys that can hold the choice, normalised (lower case, letters and digits only), in order
# of preference when an object has several.
_JSON_KEYS = (
    "choice",
    "finalchoice",
    "mychoice",
    "productchoice",
    "selection",
    "selectedproduct",
    "selectedproductid",
    "selectedid",
    "chosenproduct",
    "chosenproductid",
    "productid",
    "productnumber",
    "productno",
    "product",
    "selected",
    "chosen",
    "pick",
    "option",
    "optionid",
    "recommendation",
    "recommendedproduct",
    "recommendedproductid",
    "purchase",
    "decision",
    "answer",
    "itemid",
    "item",
)
_JSON_KEY_RANK = {key: rank for rank, key in enumerate(_JSON_KEYS)}
# Inside a nested product object: {"product": {"id": 2, "name": "Ford Explorer"}}.
_JSON_NESTED_KEYS = ("id", "number", "productid", "choice", "name", "title", "product")
_JSON_MAX_STARTS = 64  # "{" positions tried; bounds the work on junk input
_LOOSE_JSON_RE = re.compile(
    r"""["']([a-z_][\w \-]{0,39})["']\s*[:=]\s*"""
    r"""(null|none|"[^"\n]{0,200}"|'[^'\n]{0,200}'|-?\d{1,30}(?![\d.e]))""",
    re.IGNORECASE,
)
_KEY_JUNK_RE = re.compile(r"[^a-z0-9]")


def _read_json(text: str, catalogue: _Catalogue) -> _Read | None:
    """The choice held by the last JSON object that has one, or None."""
    if "{" not in text:
        return None
    found = None
    for obj in _json_objects(text):
        read = _read_json_object(obj, catalogue, 0)
        if read is not None:
            found = read  # the last object wins, as with choice lines
    return found if found is not None else _read_loose_json(text, catalogue)


def _json_objects(text: str) -> Iterator[dict[Any, Any]]:
    """Every JSON object embedded in the text (fenced or not), in order."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    tries = 0
    while start != -1 and tries < _JSON_MAX_STARTS:
        tries += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            yield obj
        start = text.find("{", end)


def _norm_key(key: str) -> str:
    """A JSON key reduced to lower-case letters and digits ("Product ID" -> "productid")."""
    return _KEY_JUNK_RE.sub("", key.lower())


def _read_json_object(obj: dict[Any, Any], catalogue: _Catalogue, depth: int) -> _Read | None:
    """The choice in one JSON object, looking into nested objects when it has no choice key."""
    if depth > 3:
        return None
    keyed = {_norm_key(k): v for k, v in obj.items() if isinstance(k, str)}
    for key in _JSON_KEYS:
        if key in keyed:
            read = _read_json_value(keyed[key], catalogue, depth)
            if read is not None:
                return read
    for value in obj.values():
        if isinstance(value, dict):
            read = _read_json_object(value, catalogue, depth + 1)
            if read is not None:
                return read
    return None


def _read_json_value(value: Any, catalogue: _Catalogue, depth: int) -> _Read | None:
    """Read the value of a choice key: int, numeric string, name, null, or a product object."""
    if value is None:
        return _REFUSAL_READ
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _Read("number", value)
    if isinstance(value, float):
        return _Read("number", int(value)) if value.is_integer() else None
    if isinstance(value, str):
        return _read_value(_plain(value), catalogue)
    if isinstance(value, list) and len(value) == 1:
        return _read_json_value(value[0], catalogue, depth + 1)
    if isinstance(value, dict) and depth < 3:
        keyed = {_norm_key(k): v for k, v in value.items() if isinstance(k, str)}
        for key in _JSON_NESTED_KEYS:
            if key in keyed and keyed[key] is not None:
                read = _read_json_value(keyed[key], catalogue, depth + 1)
                if read is not None:
                    return read
    return None


def _read_loose_json(text: str, catalogue: _Catalogue) -> _Read | None:
    """Almost-JSON (single quotes, Python None): the best-ranked quoted key, last if tied."""
    best: tuple[int, _Read] | None = None
    for match in _LOOSE_JSON_RE.finditer(text):
        rank = _JSON_KEY_RANK.get(_norm_key(match.group(1)))
        if rank is None:
            continue
        raw = match.group(2)
        if raw.lower() in ("null", "none"):
            read: _Read | None = _REFUSAL_READ
        elif raw[0] in "\"'":
            read = _read_value(_plain(raw[1:-1]), catalogue)
        else:
            read = _Read("number", int(raw))
        if read is not None and (best is None or rank <= best[0]):
            best = (rank, read)
    return best[1] if best is not None else None


# --------------------------------------------------------------------------- prose

# Mentions by number: "product 2", "product id: 1", "option #1", "item no. 2".
_ID_MENTION_RE = re.compile(
    r"\b(?:product|option|item|listing|choice)(?:\s*(?:id|number|no\.?|#))?\s*[:#.]?\s*"
    r"(\d{1,30})(?!\d|[.,]\d)"
)
# Clauses end at sentence ends, semicolons, line breaks and turning words, so that
# "I cannot buy X, but I recommend Y" puts X and Y under different verbs.
_CLAUSE_BREAK_RE = re.compile(
    r"[.!?]+(?=\s|$)|[;\n]"
    r"|(?:but|however|whereas|although|though|otherwise|alternatively|instead(?!\s+of))\b"
)
# A full stop after these ends no clause ("product no. 2", "the tesla vs. the ford").
_ABBREVIATION_RE = re.compile(r"(?:^|\W)(?:vs|no|e\.g|i\.e|dr|mr|st)$")
_NOUN_GUARD = r"(?<!\bthe\s)(?<!\ba\s)(?<!\ban\s)(?<!\bthis\s)(?<!\byour\s)(?<!\bin\s)"
# Words that set the standing of the product mentioned right after them. Contrast cues
# swallow a following gerund ("instead of buying") so the verb does not count as praise.
_CUE_RE = re.compile(
    rf"""
    \b(?=[a-z])  # cues start words; this makes the scan skip everything else quickly
    (?:
    (?P<strong>
        my\s+(?:final\s+|top\s+|personal\s+)?
            (?:choice|pick|selection|recommendation|suggestion|answer)\s*(?:is|would\s+be|:)
      | (?:best|ideal|right|perfect|top|optimal|recommended|wisest|smartest|clear)\s+
            (?:option|choice|bet|fit|pick|buy|purchase|product|match|vehicle|car|film|movie|one)
            \s+(?:for\s+(?:you|your\s+\w+|the\s+\w+|this\s+\w+)\s+)?(?:is|would\s+be|here\s+is|:)
      | recommend\w* | suggest\w* | advis\w* | choos\w* | chose\w* | prefer\w*
      | go(?:ing)?\s+(?:with|for) | went\s+(?:with|for) | opt(?:s|ed|ing)?\s+for
      | settl\w*\s+on | {_NOUN_GUARD}(?:purchas(?:e|es|ed|ing) | buy(?:s|ing)? | bought
      | select(?:s|ed|ing)? | pick(?:s|ed|ing)? | order(?:s|ed|ing)?)
    )(?![\w])
  | (?P<contrast>
        (?:unlike | instead\s+of | rather\s+than | as\s+opposed\s+to | in\s+place\s+of
        | compared\s+(?:to|with) | in\s+comparison\s+(?:to|with) | versus | vs\.? | over
        | against | not | except | avoid\w* | skip(?:s|ped|ping)? | reject\w* | pass\s+on
        | steer\s+clear\s+of | forgo\w* | forego\w*)
        (?:\s+\w+ing)?
    )(?![\w])
  | (?P<weak>
        (?:better|good|great|solid|smarter|sensible)\s+(?:option|choice|bet|fit|pick)
        \s+(?:for\s+(?:you|your\s+\w+)\s+)?(?:is|would\s+be)
    )(?![\w])
    )
    """,
    re.VERBOSE,
)
# Praise right after a mention: "the tesla model 3 is the best choice".
_POST_RE = re.compile(
    r"""
    [\s,)\]"'*]*(?:\([^()]{0,80}\)|\[[^\]]{0,80}\])?[\s,)\]"'*]*
    (?:which\s+|that\s+)?
    (?:is|would(?P<n1>\s+not|n't)?\s+be|will\s+be|seems|appears|looks\s+like|remains|'s
      |stands\s+out\s+as|makes\s+for)
    (?P<n2>n't|\s+not|\s+never)?\s+
    (?P<filler>(?:\w+\s+){0,3}?)
    (?:(?P<strong>best|ideal|perfect|optimal|recommended|preferred|right\s+(?:choice|option|pick|fit)
        |top\s+(?:choice|pick)|my\s+(?:choice|pick|recommendation|selection|top))
      |(?P<weak>better|good|great|excellent|solid|sensible|suitable|wise|smart))\b
    """,
    re.VERBOSE,
)
_FILLER_NEGATION_RE = re.compile(r"\b(?:not|no|never|less)\b|n't")
_NEGATION_RE = re.compile(r"\b(?:not|never|cannot|unable|refuse[sd]?|refusing)\b|n't\b")
# Negations that praise: "you won't regret buying", "you can't go wrong choosing".
_PRAISING_NEGATION_RE = re.compile(r"(?:\bnot|\bnever|n't)\s+(?:regret|hesitate|go\s+wrong)")
_NEGATION_WINDOW = 6  # words before a verb searched for a negation
_STRONG_GAP = 12  # words a verb may be from its object ("recommend purchasing the ...")
_CONTRAST_GAP = 4  # contrast words bind tightly ("rather than the ...")
# Refusals: a negated first-person verb of buying or helping, or a stock phrase.
_REFUSAL_RE = re.compile(
    r"\b(?=[a-z])(?:"  # refusals start words; this makes the scan skip everything else quickly
    r"(?:i|we)\b[^.!?\n]{0,40}?"
    r"(?P<negation>\b(?:cannot|(?:can|could|will|would|should|must)\s+not|unable|refuse|decline"
    r"|not\s+(?:going|able|willing|comfortable))\b|\b(?:can|couldn|won|wouldn|shouldn)'t\b)"
    r"[^.!?\n]{0,40}?\b(?:purchas\w*|buy\w*|assist\w*|help\w*|comply\w*|proceed\w*"
    r"|recommend\w*|select\w*|choos\w*|pick\w*|fulfil\w*|complet\w*|make|support\w*"
    r"|endorse\w*|order\w*|do\s+(?:that|this|so)|participat\w*|provid\w*|facilitat\w*)\b"
    r"|(?:not|cannot|\w*n't)\s+(?:\w+\s+)?in\s+good\s+conscience\b"
    r"|(?:not|\w*n't)\s+(?:feel\s+)?comfortable\b"
    r"|i\s+(?:must|have\s+to|will|'ll|would|'d)\s+(?:respectfully\s+|politely\s+)?"
    r"(?:decline|refuse|abstain|pass)\b"
    r"|(?:neither|none)\s+of\s+(?:them|these|those|the\s+(?:options|products|above|listed))\b"
    r"|neither\s+(?:option|product|one)\b"
    r")"
)
_REFUSAL_TARGET_GAP = 5  # words from a refusal to the product it is about


class _Mention:
    """One mention of a product in prose, by id or by name, and its standing."""

    __slots__ = ("start", "end", "number", "by_id", "clause", "pre", "standing")

    def __init__(self, start: int, end: int, number: int, by_id: bool) -> None:
        self.start = start
        self.end = end
        self.number = number
        self.by_id = by_id
        self.clause = 0
        self.pre = 0  # standing from the words before the mention
        self.standing = 0  # 2 endorsed, 1 praised, 0 neutral, -1 rejected


class _Cue(NamedTuple):
    """A word or phrase that sets the standing of the next mention."""

    start: int
    end: int
    value: int
    clause: int


def _read_prose(plain: str, catalogue: _Catalogue) -> ParsedChoice:
    """Read an answer that ignores the form: find the product with the best standing."""
    clause_starts = _clause_starts(plain)
    refusals = _find_refusals(plain, clause_starts)
    mentions = _find_mentions(plain, catalogue)
    if not mentions:
        return _REFUSED if refusals else _NO_CHOICE

    for mention in mentions:
        mention.clause = bisect.bisect_right(clause_starts, mention.start) - 1
    _assign_standing(plain, mentions, _find_cues(plain, clause_starts, mentions))
    _apply_refusals(refusals, mentions, clause_starts)

    standing = _product_standing(mentions)
    listed = {n: s for n, s in standing.items() if n in catalogue.numbers}
    top = max(listed.values(), default=-1)
    leaders = sorted(n for n, s in listed.items() if s == top)

    if top >= 1:
        if len(leaders) == 1:
            return ParsedChoice(leaders[0], _prose_method(mentions, leaders[0], top))
        return _REFUSED if refusals else _ambiguous(leaders)
    # Nothing listed is endorsed; an endorsed number that is not listed explains why.
    unlisted = sorted(n for n, s in standing.items() if n not in catalogue.numbers and s >= 1)
    if unlisted:
        return _out_of_range(unlisted[0], catalogue)
    if top == 0:
        if len(leaders) == 1:
            targets = _refusal_targets(plain, refusals, mentions, clause_starts)
            # A refusal only about another product ("I cannot buy X. Y is lovely.") does
            # not stop the one product left standing from being the choice.
            if any(t is None or t == leaders[0] for t in targets):
                return _REFUSED
            return ParsedChoice(leaders[0], _prose_method(mentions, leaders[0], top))
        return _REFUSED if refusals else _ambiguous(leaders)
    return _REFUSED if refusals else _NO_CHOICE


def _find_refusals(plain: str, clause_starts: list[int]) -> list[re.Match[str]]:
    """Every refusal in the text whose negation and verb are in the same clause.

    "I can't decide, but I'd recommend X" is no refusal: the regex may bridge the "but",
    the clauses do not.
    """
    refusals = []
    for match in _REFUSAL_RE.finditer(plain):
        if match.group("negation") is not None:
            verb_clause = bisect.bisect_right(clause_starts, match.end() - 1) - 1
            if bisect.bisect_right(clause_starts, match.start("negation")) - 1 != verb_clause:
                continue
        refusals.append(match)
    return refusals


def _apply_refusals(
    refusals: list[re.Match[str]], mentions: list[_Mention], clause_starts: list[int]
) -> None:
    """Reject every product mentioned after a refusal in the refusal's own clause.

    "I cannot fulfil this request as it goes against my guidelines to purchase propaganda"
    puts the verb far from the negation; the refusal still covers the whole clause.
    """
    for refusal in refusals:
        clause = bisect.bisect_right(clause_starts, refusal.end() - 1) - 1
        for mention in mentions:
            if mention.clause == clause and mention.start >= refusal.start():
                mention.standing = -1


def _clause_starts(plain: str) -> list[int]:
    """Where each clause of the text starts (the first is 0)."""
    starts = [0]
    for match in _CLAUSE_BREAK_RE.finditer(plain):
        start = match.start()
        if plain[start] == "." and _ABBREVIATION_RE.search(plain, max(0, start - 4), start):
            continue
        # The regex has no \b before "but" (it would slow the scan), so reject "rebut" here.
        if plain[start].isalpha() and start and _ALNUM_RE.match(plain, start - 1):
            continue
        starts.append(match.end())
    return starts


def _find_mentions(plain: str, catalogue: _Catalogue) -> list[_Mention]:
    """Every mention of a product by name or by id, in order, without overlaps."""
    found = [
        _Mention(m.start(), m.end(), _owner(m, catalogue), False)
        for m in _name_mentions(plain, catalogue)
    ]
    found += [
        _Mention(m.start(), m.end(), int(m.group(1)), True) for m in _ID_MENTION_RE.finditer(plain)
    ]
    found.sort(key=lambda m: (m.start, -m.end))
    mentions: list[_Mention] = []
    for mention in found:
        if not mentions or mention.start >= mentions[-1].end:
            mentions.append(mention)
    return mentions


def _find_cues(plain: str, clause_starts: list[int], mentions: list[_Mention]) -> list[_Cue]:
    """Every cue outside a product name, with its standing value and clause."""
    mention_starts = [m.start for m in mentions]
    cues = []
    for match in _CUE_RE.finditer(plain):
        start = match.start()
        inside = bisect.bisect_right(mention_starts, start) - 1
        if inside >= 0 and mentions[inside].end > start:
            continue  # "pick" in a product called "Pick of the Week" is no cue
        clause = bisect.bisect_right(clause_starts, start) - 1
        if match.lastgroup == "contrast":
            value = -1
        else:
            value = 2 if match.lastgroup == "strong" else 1
            if _negated(plain, start, clause_starts[clause]):
                value = -1  # "I would not recommend ..."
        cues.append(_Cue(start, match.end(), value, clause))
    return cues


def _negated(plain: str, cue_start: int, clause_start: int) -> bool:
    """Whether a verb is negated by the words just before it, back to a comma."""
    window_start = max(clause_start, plain.rfind(",", clause_start, cue_start) + 1)
    words = " ".join(plain[window_start:cue_start].split()[-_NEGATION_WINDOW:])
    return bool(_NEGATION_RE.search(_PRAISING_NEGATION_RE.sub("", words)))


def _assign_standing(plain: str, mentions: list[_Mention], cues: list[_Cue]) -> None:
    """Give every mention a standing from the nearest cue before it and praise after it.

    A cue governs the first mention after it in the same clause, and the mentions listed
    right after that one ("recommend the X or the Y"); a mention further on in the clause
    is neutral unless it has a cue of its own.
    """
    cue_ends = [c.end for c in cues]
    previous: _Mention | None = None
    for mention in mentions:
        if previous is not None and previous.clause != mention.clause:
            previous = None
        index = bisect.bisect_right(cue_ends, mention.start) - 1
        cue = cues[index] if index >= 0 else None
        pre = 0
        if (
            cue is not None
            and cue.clause == mention.clause
            and (previous is None or cue.start >= previous.end)
        ):
            gap = len(plain[cue.end : mention.start].split())
            if gap <= (_CONTRAST_GAP if cue.value < 0 else _STRONG_GAP):
                pre = cue.value
        elif previous is not None and _CONTINUATION_RE.fullmatch(
            plain, previous.end, mention.start
        ):
            pre = previous.pre
        post = _post_standing(plain, mention.end)
        mention.pre = pre
        mention.standing = -1 if pre < 0 or post < 0 else max(pre, post)
        previous = mention


def _post_standing(plain: str, pos: int) -> int:
    """The standing given by praise right after a mention (2, 1, -1 if negated, else 0)."""
    match = _POST_RE.match(plain, pos)
    if match is None:
        return 0
    if match.group("n1") or match.group("n2") or _FILLER_NEGATION_RE.search(match["filler"]):
        return -1
    return 2 if match.group("strong") else 1


def _product_standing(mentions: list[_Mention]) -> dict[int, int]:
    """Each product's standing: its best praise, else -1 if it was ever rejected, else 0."""
    best: dict[int, int] = {}
    for mention in mentions:
        current = best.get(mention.number)
        if current is None:
            best[mention.number] = mention.standing
        elif mention.standing > 0 or current > 0:
            best[mention.number] = max(current, mention.standing)
        else:
            best[mention.number] = min(current, mention.standing)  # a rejection sticks
    return best


def _prose_method(mentions: list[_Mention], number: int, top: int) -> str:
    """``prose_id`` when the winning standing was given to a mention by id."""
    by_id = any(m.by_id and m.number == number and m.standing == top for m in mentions)
    return "prose_id" if by_id else "prose_name"


def _refusal_targets(
    plain: str, refusals: list[re.Match[str]], mentions: list[_Mention], clause_starts: list[int]
) -> list[int | None]:
    """For each refusal, the product it is about ("cannot buy X"), or None if general."""
    mention_starts = [m.start for m in mentions]
    targets: list[int | None] = []
    for refusal in refusals:
        target = None
        index = bisect.bisect_left(mention_starts, refusal.end())
        if index < len(mentions):
            mention = mentions[index]
            clause = bisect.bisect_right(clause_starts, refusal.end() - 1) - 1
            gap = len(plain[refusal.end() : mention.start].split())
            if mention.clause == clause and gap <= _REFUSAL_TARGET_GAP:
                target = mention.number
        targets.append(target)
    return targets
