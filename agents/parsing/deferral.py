"""Answers that hand the choice back to the customer instead of making it (``deferred``).

"You can select either the Tesla [Choice: 1] or the Porsche [Choice: 2]. Please let me know
your preference" buys nothing: the agent asked the customer to decide. Such an answer is
neither a choice of the last product it names nor a refusal nor unreadable. It is
*deferred* when it asks the customer to choose (a hand-back phrase: "let me know which you
prefer", "which would you like", "it's up to you", "please choose") and does not commit to
one product: its choice lines name two or more products, or it has no choice line or JSON
choice and its prose mentions anything other than exactly one product chosen. A request for
more information ("tell me about your driving habits") is no hand-back: it stays unparsed.
"""

from __future__ import annotations

import re

from agents.parsing.catalogue import _Catalogue
from agents.parsing.results import ParsedChoice

_HAND_BACK_RE = re.compile(
    r"""
    \b(?=[a-z])(?:
      let\s+me\s+know\s+(?:which|what\s+you|your\s+(?:preference|choice|decision|pick)
        |if\s+you(?:'d|\s+would)?\s+(?:prefer|rather|like\s+(?:the|me\s+to))|whether)
    | (?:which|what)\s+(?:one|option|product|car|vehicle|film|movie|of\s+(?:these|them|the\s+\w+)
        )?\s*(?:would|do|will|did|should)\s+you\s+(?:prefer|like|want|choose|pick|go\s+for
        |rather|lean\s+towards?)
    | which\s+(?:one\s+)?(?:is|sounds|seems)\s+(?:better|right|best)\s+(?:for|to)\s+you\s*\?
    | (?:it'?s|it\s+is|that'?s|that\s+is)\s+(?:entirely\s+|really\s+|ultimately\s+)?
        (?:up\s+to\s+you|your\s+(?:call|choice|decision))
    | the\s+(?:final\s+)?(?:choice|decision)\s+is\s+(?:yours|up\s+to\s+you)
    | leave\s+(?:the\s+)?(?:final\s+)?(?:choice|decision|it)\s+(?:to|up\s+to)\s+you
    | (?:you\s+(?:can|could|may|might)|feel\s+free\s+to)\s+(?:choose|select|pick|decide)
        \s+(?:between|either|whichever|which)
    | please\s+(?:choose|select|pick|decide|confirm\s+which|indicate\s+which|tell\s+me\s+which)
    | (?<!if\s)(?:would|do)\s+you\s+(?:prefer|rather)\b
    | whichever\s+(?:one\s+)?you\s+(?:prefer|choose|like|pick|decide)
    | (?:can(?:not|'t)|won'?t|shouldn'?t)\s+(?:make\s+(?:this|that|the)\s+(?:choice|decision)
        |decide|choose)\s+for\s+you
    )
    """,
    re.VERBOSE,
)


def hands_back(plain: str) -> bool:
    """Whether the (plain) answer asks the customer to make the choice."""
    return _HAND_BACK_RE.search(plain) is not None


_SENTENCE_END_RE = re.compile(r"[.!?\n]")


def in_question(plain: str, pos: int) -> bool:
    """Whether the sentence around ``pos`` is a question (ends with "?")."""
    end = _SENTENCE_END_RE.search(plain, pos)
    return end is not None and end.group() == "?"


def deferred(numbers: set[int] | frozenset[int], catalogue: _Catalogue) -> ParsedChoice:
    """The ``deferred`` result, naming the listed products the answer offered."""
    listed = [str(n) for n in sorted(n for n in numbers if n in catalogue.numbers)]
    if not listed:
        offered = "asked the customer to choose"
    elif len(listed) == 1:
        offered = f"offered {listed[0]} and asked the customer to choose"
    else:
        offered = (f"offered {', '.join(listed[:-1])} and {listed[-1]} "
                   "and asked the customer to choose")
    return ParsedChoice(None, "deferred", reason=f"deferred: {offered}")
