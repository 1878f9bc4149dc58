"""The patterns prose reading uses: mentions, clause breaks, cues, praise, refusals."""

from __future__ import annotations

import re

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
# Fit right after a mention: "the tesla model 3 fits your needs", "... suits the customer".
_FIT_RE = re.compile(
    r"""[\s,)\]"'*]*(?:\([^()]{0,80}\)[\s,]*)?(?:which\s+|that\s+)?"""
    r"(?:(?:best|perfectly|really|truly|also|fully)\s+)?(?:fits|suits|meets|matches|satisfies)"
    r"\s+(?:all\s+(?:of\s+)?)?(?:you|your|the\s+customer|their)\b"
)
# What may surround a product named on its own: articles, punctuation, "product".
_NAME_ONLY_REST_RE = re.compile(r"[\s\W]*(?:(?:the|a|an|product|option)\b[\s\W]*)*")
# After a product named as the answer's headline: the end of the line, or a colon or dash.
_HEADLINE_END_RE = re.compile(r"[ \t*_)\]]*(?:$|\n|:|\s+-+\s|\s*[\u2013\u2014])", re.MULTILINE)
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
