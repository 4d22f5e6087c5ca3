"""Replies that are not answers at all: empty, cut off mid-sentence, or over the length budget.

The truncation heuristics only fire on endings a finished reply practically never has (a comma,
a colon with nothing after it, "and", "the", "your order will", "free on orders over", an unclosed
code fence), because rejecting a good answer costs a paid retry. A reply without final
punctuation is not, by itself, truncated.
"""

from __future__ import annotations

import re
import unicodedata

from core.guardrails.rules import Reason

_LAST_WORDS = re.compile(r"(?:([A-Za-z']+)\W+)?([A-Za-z']+)\W*$")
_DANGLING_MARKS = frozenset(",:;([{/&+=")
# Words after which an English sentence cannot stop. Prepositions that can end a sentence
# ("what is it for", "and so on") are deliberately absent.
_DANGLING_WORDS = frozenset(
    {
        "a", "an", "the", "and", "or", "but", "nor", "because", "although", "whereas",
        "than", "your", "our", "my", "their", "its", "of", "within", "between", "including",
        "via", "such", "unless", "whether", "while", "if", "whose", "every", "from", "into",
        "onto", "per", "until", "except", "during", "without", "towards", "toward", "at",
    }
)  # fmt: skip
# Words that end a sentence only after certain words: a modal after its subject ("yes, we can"),
# a preposition stranded after a verb or pronoun ("anything else I can help you with", "happy
# to", "the sale is over"). After anything else ("your order will", "orders over") they dangle.
_DANGLING_AFTER_OTHERS = frozenset(
    {
        "will", "would", "can", "could", "should", "shall", "must", "might", "cannot",
        "to", "for", "with", "over", "about", "under",
    }
)  # fmt: skip
_ENDING_BEFORE = frozenset(
    {
        "i", "you", "we", "they", "he", "she", "it", "there", "who", "that", "which", "me",
        "us", "them", "him", "her", "is", "are", "was", "were", "be", "been", "all", "again",
        "start", "help", "want", "wants", "like", "need", "needs", "love", "going", "able",
        "happy", "glad", "free", "deal", "talk", "ask", "asked", "look", "come", "go", "used",
        "have", "has", "ought", "not", "hand", "take", "think", "paid", "pay", "looking",
        "asking", "waiting", "wait", "what",
    }
)  # fmt: skip


def is_empty(text: str) -> bool:
    """Nothing but white space, punctuation or control characters."""
    return not any(unicodedata.category(c)[0] not in "PZC" for c in text)


def truncation(text: str) -> str | None:
    """Why ``text`` looks cut off, or None when it looks finished."""
    if text.count("```") % 2:
        return "a code block is never closed"
    stripped = text.rstrip()
    if stripped[-1:] in _DANGLING_MARKS:
        return f"ends with {stripped[-1]!r}"
    if stripped[-1:].isalpha():
        match = _LAST_WORDS.search(stripped)
        if match:
            before, last = (match.group(1) or "").lower(), match.group(2)
            if last.lower() in _DANGLING_WORDS:
                return f"ends with {last!r}"
            if last.lower() in _DANGLING_AFTER_OTHERS and before and before not in _ENDING_BEFORE:
                return f"ends with {before} {last!r}"
    return None


def shape_problem(text: str, max_chars: int) -> tuple[Reason, str] | None:
    """The first shape problem of ``text`` (empty, too long, truncated), if any."""
    if is_empty(text):
        return Reason.EMPTY, "no words in the reply"
    if len(text) > max_chars:
        return Reason.TOO_LONG, f"{len(text)} characters, the budget is {max_chars}"
    why = truncation(text)
    if why is not None:
        return Reason.TRUNCATED, why
    return None
