"""How much a stored message is worth keeping when the context must be trimmed.

Scored once, when the message is stored, with a handful of regular expressions: deterministic,
no model call, about 40 µs per message. The score is a sum of signals clamped to
[0, 1]:

==============================  =======  ==============================================
signal                          weight   examples
==============================  =======  ==============================================
base (any message)              0.20
facts: one kind                 +0.25    ``#A-483920``, ``$47.15``, ``2024-03-02``,
facts: each further kind        +0.10    ``jane@example.com``, ``5 April``, ``42 Baker Street``
question                        +0.10    ``?`` or opening with what/when/can/...
question that carries facts     +0.15    on top of the two above
request to act                  +0.20    "please cancel…", "change the address…"
correction                      +0.35    "no, I meant…", "actually…", "that's wrong"
commitment                      +0.30    "I will…", "we'll refund…", "your order will…"
substance (length)              +0..0.1  grows with words, full at 30 words
small talk (whole message)      = 0.05   "ok", "thanks!", "hi", "bye", "👍", nothing else
==============================  =======  ==============================================

Small talk short-circuits: a message that is only a greeting, thanks or acknowledgement scores
0.05 whatever its role. The role matters a little: system notes are kept a bit more readily
(+0.1), since they carry the bot's own bookkeeping.
"""

from __future__ import annotations

import re

from core.model import Role

SMALL_TALK_SCORE = 0.05

_SMALL_TALK = re.compile(
    r"""^\W*(?:
        (?:hi|hello|hey|hiya|yo|good\s+(?:morning|afternoon|evening|night))(?:\s+there)?
      | (?:many\s+)?thanks?(?:\s+(?:you|a\s+lot|so\s+much))*(?:\s+(?:again|anyway))?
      | thank\s+you(?:\s+(?:so|very)\s+much)?(?:\s+again)?
      | thx | ty | cheers | ta
      | ok(?:ay)?(?:\s+thanks?)? | k | kk | sure | fine | alright | got\s+it | understood
      | (?:great|cool|nice|perfect|awesome|lovely|excellent)(?:\s+thanks?)?
      | (?:you'?re\s+)?welcome | no\s+problem | np
      | bye | goodbye | see\s+you | have\s+a\s+(?:nice|good|great|lovely)\s+(?:day|one)
      | hmm+ | ah | oh | yes | yeah | yep | no | nope
    )(?:[\s,]+(?:hi|bye|thanks?|ok(?:ay)?|great|cool|again))*\W*$""",
    re.IGNORECASE | re.VERBOSE,
)

# One pattern per kind of fact; several kinds in a message are worth more than one.
_FACTS: tuple[re.Pattern[str], ...] = (
    # money: $47.15, €12, 12.50 EUR, CA$34.00, -$12.50
    re.compile(
        r"(?:[$€£¥]|\b(?:usd|eur|gbp|ca\$))\s?-?\d|\d(?:[.,]\d+)?\s?(?:usd|eur|gbp|dollars?|euros?)\b",
        re.IGNORECASE,
    ),
    # order, invoice, ticket, tracking ids: #A-483920, INV-2024-0193, C-100233, 1Z999AA1012...
    re.compile(
        r"#\s?\w*\d\w*|\b[A-Z]{1,5}-\d[\w-]*|\b(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{6,}\b"
    ),
    # dates: 2024-03-02, 3/14, 14.03.2024, 5 April, March 14th
    re.compile(
        r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?\b"
        r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
        r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?\b",
        re.IGNORECASE,
    ),
    # postal addresses: 42 Baker Street, 7 Rue de Rivoli
    re.compile(
        r"\b\d+\s+(?:[A-Z][a-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|way|"
        r"boulevard|blvd|place|pl|square|sq|court|ct)\b|\b(?:rue|via|calle)\s+[A-Z]",
        re.IGNORECASE,
    ),
    # e-mail addresses
    re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    # any other number with at least three digits: amounts, phone numbers, quantities
    re.compile(r"\d(?:[\s.,-]?\d){2,}"),
)

_QUESTION = re.compile(
    r"\?|^\W*(?:what|when|where|which|who|whom|whose|why|how|can|could|would|will|is|are|"
    r"do|does|did|should|may|have|has)\b",
    re.IGNORECASE,
)

_CORRECTION = re.compile(
    r"\b(?:actually|i\s+meant|i\s+mean\b|meant\s+to\s+say|that'?s\s+(?:wrong|not\s+(?:right|"
    r"correct|what))|(?:is|was)\s+(?:wrong|incorrect)|not\s+what\s+i|correction|i\s+said|"
    r"you'?re\s+right|instead\s+of|mistake|typo|i\s+misspoke|not\s+\w+,?\s+but)\b"
    r"|^\W*no\b[,.!]?\s+(?:i|it|it'?s|its|my|the|that\s+(?:is|was)|not|wrong)\b",
    re.IGNORECASE,
)

# Asking the business to act on an account or an order.
_REQUEST = re.compile(
    r"\b(?:cancel|refund|exchange|return|replace|change|update|delete|close|unsubscribe|"
    r"reset|resend|re-send|fix|upgrade|downgrade|transfer)\b",
    re.IGNORECASE,
)

_COMMITMENT = re.compile(
    r"\b(?:i|we|they|it|you)(?:\s+will|'ll)\b|\byour\s+\w+(?:\s+\w+)?\s+will\b"
    r"|\bwill\s+be\s+(?:refunded|credited|shipped|delivered|sent|cancell?ed|replaced|fixed)\b"
    r"|\b(?:i'?ve|we'?ve|i\s+have|we\s+have)\s+(?:refunded|credited|issued|sent|cancell?ed|"
    r"updated|asked|arranged|scheduled|changed)\b|\b(?:promise|guarantee|is\s+now|has\s+been)\b",
    re.IGNORECASE,
)


def importance(text: str, role: Role) -> float:
    """A score in [0, 1]: high for facts, corrections and commitments, low for small talk."""
    if not any(char.isalnum() for char in text) or _SMALL_TALK.match(text):
        return SMALL_TALK_SCORE
    score = 0.2
    kinds = sum(1 for pattern in _FACTS if pattern.search(text))
    if kinds:
        score += 0.25 + 0.10 * (kinds - 1)
    if _QUESTION.search(text):
        score += 0.25 if kinds else 0.10
    if _REQUEST.search(text):
        score += 0.20
    if _CORRECTION.search(text):
        score += 0.35
    if _COMMITMENT.search(text):
        score += 0.30
    score += 0.1 * min(len(text.split()), 30) / 30
    if role is Role.SYSTEM:
        score += 0.1
    return round(min(score, 1.0), 4)
