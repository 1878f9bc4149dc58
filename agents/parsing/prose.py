"""Reading answers that ignore the form: the product with the best standing."""

from __future__ import annotations

import bisect
import re
from typing import NamedTuple

from agents.parsing.catalogue import _ALNUM_RE, _Catalogue, _name_mentions, _owner
from agents.parsing.prose_patterns import (
    _ABBREVIATION_RE,
    _CLAUSE_BREAK_RE,
    _CONTRAST_GAP,
    _CUE_RE,
    _FILLER_NEGATION_RE,
    _FIT_RE,
    _HEADLINE_END_RE,
    _ID_MENTION_RE,
    _NAME_ONLY_REST_RE,
    _NEGATION_RE,
    _NEGATION_WINDOW,
    _POST_RE,
    _PRAISING_NEGATION_RE,
    _REFUSAL_RE,
    _REFUSAL_TARGET_GAP,
    _STRONG_GAP,
)
from agents.parsing.results import _NO_CHOICE, _REFUSED, ParsedChoice, _ambiguous, _out_of_range
from agents.parsing.values import _CONTINUATION_RE


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
            # A bare mention is no recommendation (random text mentions products too): the
            # evidence is a refusal of the other products, or an answer that is only a name.
            if targets or _only_a_name(plain, mentions):
                return ParsedChoice(leaders[0], _prose_method(mentions, leaders[0], top))
            return _unrecommended(leaders[0])
        return _REFUSED if refusals else _ambiguous(leaders)
    return _REFUSED if refusals else _NO_CHOICE


def _only_a_name(plain: str, mentions: list[_Mention]) -> bool:
    """Whether the answer names its product as a headline and nothing else decides.

    Either the whole answer is mentions of one product ("The Ford Explorer.", "Tesla Model 3
    [product id: 1]"), or its first line is the name alone or the name and a colon or dash
    ("Ford Explorer: more room for the family").
    """
    if len({m.number for m in mentions}) != 1:
        return False
    pieces, pos = [], 0
    for mention in mentions:
        pieces.append(plain[pos : mention.start])
        pos = mention.end
    pieces.append(plain[pos:])
    if _NAME_ONLY_REST_RE.fullmatch(" ".join(pieces)) is not None:
        return True
    first = mentions[0]
    return (_NAME_ONLY_REST_RE.fullmatch(plain, 0, first.start) is not None
            and "\n" not in plain[: first.start].strip()
            and _HEADLINE_END_RE.match(plain, first.end) is not None)


def _unrecommended(number: int) -> ParsedChoice:
    """An unparsed result for a product mentioned without any sign that it was chosen."""
    return ParsedChoice(None, "unparsed", reason=f"no recommendation: mentions {number} only")


def _listed_mentions(plain: str, catalogue: _Catalogue) -> list[tuple[int, int]]:
    """(position, number) of every mention of a listed product, by name or by id."""
    return [(m.start, m.number) for m in _find_mentions(plain, catalogue)
            if m.number in catalogue.numbers]


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
        return 1 if _FIT_RE.match(plain, pos) else 0
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
