"""Fuzzy matching of a user's question to a knowledge-base intent, or to nothing.

Scoring, deterministic and offline:

1. Text becomes content tokens: lower case, accents and punctuation dropped, filler words removed,
   simple suffixes cut (``hours`` → ``hour``) and synonyms folded into one word (``postage`` →
   ``ship``), so case, punctuation and word order do not matter.
2. A word that neither the knowledge base nor the word lists below know is corrected to the
   closest known word when it is a small typo: rapidfuzz OSA distance 1 for words of 5 to 8
   letters, 2 for longer ones. Shorter words must be exact, because ``cars`` is not a typo of
   ``card``. A corrected word counts a little less than a word spelled right.
3. Each token is weighted by how few intents use it (IDF), so ``refund`` says more than ``order``.
   Words the knowledge base has never seen weigh 1.5 times the rarest known word: a question
   about Tokyo is not a question about delivery just because it also says "time".
4. Per example: precision is how much of the question's weight the example explains, recall how
   much of the example the question contains; the example scores their F-measure, leaning towards
   precision. Keywords count as one-word or one-phrase examples.
5. An intent scores its best example (65%) blended with how much of the question its whole
   vocabulary explains (35%), since questions often mix the wording of two examples.

The best intent wins if it reaches ``min_confidence``; ties go to the earlier intent in the file.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from core.errors import ConfigurationError
from core.providers.rules.knowledge import SETTING, Intent, KnowledgeBase

# Words that carry no intent of their own. Question words that do ("where", "when", "long",
# "much") are deliberately kept: "how long" and "how much" separate delivery time from cost.
# A word blob reads better than a 130-item list literal.
_STOP_WORDS = frozenset(
    """
    a able about after again all also am an and any anything are as at be been before being but
    by can could d did do does doing for from get getting go going gonna got guy guys had has
    have having hello help hey hi how i if im in into is it its just know let like ll m made
    make many may me might mine must my need now of on once one or our ours out over please pls
    plz possible r re right s should so some someone something still stuff t take than thank
    thanks that the their them then there these they thing things this those till to too u
    under until up ur ve want was wat we were what whats which who why will with would yet you
    your yours
    """.split()  # noqa: SIM905
)

# Canonical word: words customers use for the same thing. Compiled to stems below.
_SYNONYM_GROUPS = {
    "ship": "deliver delivery dispatch postage courier send sent",
    "cost": "price fee charge much expensive amount euro eur",
    "long": "soon quick quickly fast",
    "not": "no never cannot aren didn doesn don hasn haven isn wasn weren wouldn",
    "wrong": "mistake incorrect",
    "order": "purchase bought parcel package shipment",
    "day": "week month year",
    "item": "product article",
    "customer": "buyer shopper client",
    "refund": "reimburse reimbursement",
    "pay": "payment",
    "option": "method way",
    "contact": "reach phone call telephone email mail talk speak support touch",
    "arrive": "came",
    "cancel": "cancellation",
    "change": "modify edit update amend",
    "damage": "broke broken crush crack smash",
    "faulty": "defective defect",
    "warranty": "guarantee",
    "exchange": "swap",
    "size": "big bigger small smaller large larger tight loose",
    "card": "voucher certificate",
    "gift": "giftcard",
    "discount": "promo coupon",
    "invoice": "receipt",
    "stock": "restock available availability",
    "store": "shop showroom",
    "collect": "pickup pick",
    "track": "follow trace",
    "international": "abroad overseas worldwide country outside",
}

# Words that hint at a topic less surely than naming it: "France" may be a shipping destination
# or a geography question. They fold into the topic but count for less.
_HINT_GROUPS = {
    "international": (
        "austria belgium britain canada denmark england finland france germany ireland italy "
        "luxembourg norway poland portugal spain sweden switzerland uk usa america"
    ),
    "weekday": "monday tuesday wednesday thursday friday saturday sunday weekend",
}
_HINT_QUALITY = 0.6

# Two-word phrases whose meaning is not the sum of their words.
_PHRASES = {
    ("money", "back"): "refund",
    ("pay", "back"): "refund",
    ("send", "back"): "return",
    ("sent", "back"): "return",
    ("sold", "out"): "stock",
    ("pick", "up"): "collect",
}

_TOKEN = re.compile(r"[a-z0-9]+")
_CORRECTED_QUALITY = 0.85  # a corrected typo is evidence, but weaker than the word itself
_PRECISION_BETA = 0.75  # F-measure weight: < 1 favours precision over recall
_BAG_SHARE = 0.35  # how much the intent-vocabulary score counts next to the best example
_UNKNOWN_FACTOR = 1.5  # unknown words weigh this times the rarest known word


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The intent a question was matched to, with a confidence between 0 and 1."""

    intent: Intent
    confidence: float


@dataclass(frozen=True, slots=True)
class _Example:
    tokens: frozenset[str]
    weight: float


@dataclass(frozen=True, slots=True)
class _IntentIndex:
    intent: Intent
    examples: tuple[_Example, ...]
    vocabulary: frozenset[str]


class IntentMatcher:
    """Matches questions to one knowledge base's intents; all preparation happens here, once."""

    def __init__(self, kb: KnowledgeBase, min_confidence: float) -> None:
        if not 0.0 < min_confidence <= 1.0:
            raise ValueError("min_confidence must be in (0, 1]")
        self._min_confidence = min_confidence
        texts = {intent.id: (*intent.examples, *intent.keywords) for intent in kb.intents}
        phrases = {
            intent_id: [frozenset(t.token for t in _tokens(_words(text))) for text in entries]
            for intent_id, entries in texts.items()
        }
        # Correction targets are the knowledge base's words and the lexicon, most frequent first
        # so that a typo equally close to two words becomes the commoner one.
        counts = Counter(
            word for entries in texts.values() for text in entries for word in _words(text)
        )
        counts.update(dict.fromkeys(_LEXICON, 0))
        self._vocabulary = tuple(sorted(counts, key=lambda word: (-counts[word], word)))
        self._known_stems = frozenset(_stem(word) for word in counts)

        document_frequency = Counter(
            token for tokens in phrases.values() for token in frozenset().union(*tokens)
        )
        intent_count = len(kb.intents)
        self._weights = {
            token: math.log(1 + intent_count / df) for token, df in document_frequency.items()
        }
        self._unknown_weight = _UNKNOWN_FACTOR * math.log(1 + intent_count)
        self._index = tuple(
            self._index_intent(intent, phrases[intent.id]) for intent in kb.intents
        )

    @property
    def min_confidence(self) -> float:
        return self._min_confidence

    def match(self, text: str) -> IntentMatch | None:
        """The best intent for ``text``, or None when no intent is convincing enough."""
        best = self.rank(text)
        if best is None or best.confidence < self._min_confidence:
            return None
        return best

    def rank(self, text: str) -> IntentMatch | None:
        """The best-scoring intent whatever the threshold (for tuning and diagnostics)."""
        query = self._query(text)
        if not query:
            return None
        total = sum(self._weight(token) for token in query)
        best: IntentMatch | None = None
        for entry in self._index:
            score = self._score(query, total, entry)
            if best is None or score > best.confidence:
                best = IntentMatch(entry.intent, score)
        return best

    def _index_intent(self, intent: Intent, phrases: list[frozenset[str]]) -> _IntentIndex:
        examples = tuple(
            _Example(tokens, sum(self._weights[token] for token in tokens))
            for tokens in phrases
            if tokens  # an example made only of filler words can never be matched
        )
        if not examples:
            # Caught at start-up: otherwise the intent would silently never answer.
            raise ConfigurationError(
                SETTING, f"intent '{intent.id}' has only filler words in its examples and keywords"
            )
        vocabulary = frozenset[str]().union(*(example.tokens for example in examples))
        return _IntentIndex(intent, examples, vocabulary)

    def _weight(self, token: str) -> float:
        return self._weights.get(token, self._unknown_weight)

    def _query(self, text: str) -> dict[str, float]:
        """Content tokens of ``text``, each with its match quality (1.0 when sure)."""
        words: list[str] = []
        corrected: set[str] = set()
        for word in _words(text):
            replacement = None if _stem(word) in self._known_stems else self._correct(word)
            if replacement is not None:
                corrected.add(replacement)
            words.append(replacement or word)
        query: dict[str, float] = {}
        for token in _tokens(words):
            quality = token.quality * (_CORRECTED_QUALITY if token.word in corrected else 1.0)
            query[token.token] = max(query.get(token.token, 0.0), quality)
        return query

    def _correct(self, word: str) -> str | None:
        allowed = 0 if len(word) <= 4 else 1 if len(word) <= 8 else 2
        if not allowed or word.isdigit():
            return None
        found = process.extractOne(
            word, self._vocabulary, scorer=OSA.distance, score_cutoff=allowed
        )
        return None if found is None else str(found[0])

    def _score(self, query: dict[str, float], total: float, entry: _IntentIndex) -> float:
        def explained(tokens: Iterable[str]) -> float:
            return sum(self._weight(t) * query[t] for t in tokens if t in query)

        best_example = 0.0
        for example in entry.examples:
            shared = explained(example.tokens)
            if shared:
                precision, recall = shared / total, shared / example.weight
                best_example = max(best_example, _f_measure(precision, recall))
        coverage = explained(entry.vocabulary) / total
        return (1 - _BAG_SHARE) * best_example + _BAG_SHARE * coverage


@dataclass(frozen=True, slots=True)
class _Token:
    word: str  # the word as written (after typo correction), to trace its quality
    token: str  # the canonical stem it counts as
    quality: float


def _f_measure(precision: float, recall: float) -> float:
    beta2 = _PRECISION_BETA**2
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


def _words(text: str) -> list[str]:
    """Lower-case ASCII words of ``text``; accents and punctuation go."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _TOKEN.findall(folded.encode("ascii", "ignore").decode("ascii"))


def _tokens(words: list[str]) -> list[_Token]:
    """Content tokens of ``words``: phrases joined, filler dropped, stems and synonyms folded."""
    tokens: list[_Token] = []
    position = 0
    while position < len(words):
        word = words[position]
        following = words[position + 1] if position + 1 < len(words) else ""
        phrase = _PHRASES.get((word, following))
        if phrase:
            tokens.append(_Token(word, _stem(phrase), 1.0))
            position += 2
            continue
        position += 1
        stem = _stem(word)
        if word in _STOP_WORDS or stem in _STOP_STEMS:
            continue
        if stem in _HINTS:
            tokens.append(_Token(word, _HINTS[stem], _HINT_QUALITY))
        else:
            tokens.append(_Token(word, _SYNONYMS.get(stem, stem), 1.0))
    return tokens


def _stem(word: str) -> str:
    """A deliberately small suffix stripper: enough to make plurals and tenses meet.

    Both sides of a comparison go through it, so stems need not be real words ("damag").
    """
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) >= 5:
        return word[:-3] + "y"
    for suffix, minimum in (("ing", 6), ("ed", 5)):
        if word.endswith(suffix) and len(word) >= minimum:
            stem = word[: -len(suffix)]
            return stem[:-1] if stem[-1] == stem[-2] else stem  # shipped -> ship
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    # A final "e" comes and goes with suffixes (damage, damaged); dropping it makes them meet.
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _compile(groups: dict[str, str]) -> dict[str, str]:
    return {
        _stem(word): _stem(canonical)
        for canonical, words in groups.items()
        for word in words.split()
    }


_SYNONYMS = _compile(_SYNONYM_GROUPS)
_HINTS = _compile(_HINT_GROUPS)
_STOP_STEMS = frozenset(_stem(word) for word in _STOP_WORDS)
# Words the matcher understands without the knowledge base: typo targets, never typos themselves.
_LEXICON = frozenset(
    word
    for words in (
        _STOP_WORDS,
        *(group.split() for group in (*_SYNONYM_GROUPS.values(), *_HINT_GROUPS.values())),
        (word for pair in _PHRASES for word in pair),
    )
    for word in words
)
