"""Fuzzy matching of a user's question to a knowledge-base intent, or to nothing.

Scoring, deterministic and offline:

1. Tokens. Questions, examples and keywords become content tokens (``text.tokens``): filler
   ("hi there, I was wondering", "thanks so much") and details (products, colours, times of day,
   places, numbers) are dropped; stems, synonyms and phrases are folded. A question word that
   neither the knowledge base nor the word lists know is corrected to the closest known word with
   the same first letter when it is a small typo: rapidfuzz OSA distance 1 for words of 5 to 8
   letters, 2 for longer ones. Shorter words must be exact, because ``cars`` is not a typo of
   ``card``. A corrected word counts a little less than a word spelled right.
2. Weights. A knowledge-base token weighs its IDF over intents, ``log(1 + intents / intents
   using it)``, so ``refund`` says more than ``order``. A word the knowledge base has never seen
   weighs ``_UNKNOWN_WEIGHT`` times a rare word (one only a single intent uses), a foreign-topic
   word ("museum", "flight") ``_FOREIGN_WEIGHT`` times: such words usually mean the question is
   about something else ("is the zoo open on Sunday"). Unknown words of one or two letters are
   abbreviations or typos ("hw") and weigh nothing. Since filler and details weigh nothing too, a
   long, chatty question is judged on its meaningful words only: its length does not dilute it.
3. Evidence. An intent sharing less than ``_MIN_EVIDENCE`` of a rare word's weight with the
   question is out: a lone common word ("day", "cost") asks about nothing in particular.
4. Each example (keywords count as short examples) scores the F-measure, leaning towards
   precision (``_PRECISION_BETA``), of
   - recall: how much of the example's weight the question contains; an example weighs at least
     one rare word, so that a lone common word is never a complete match; and
   - precision: how much of the question's weight is explained, fully by the example's own
     tokens and at ``_VOCABULARY_CREDIT`` by the rest of the intent's vocabulary, since questions
     often mix the wording of two examples.
5. An intent's confidence is its best example's score. The best intent wins if it reaches
   ``min_confidence``; ties go to the earlier intent in the file.

The constants were set with ``bench/rules_accuracy.py`` on the tuning paraphrases, the held-out
set and two private dev sets; results change little around them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from core.errors import ConfigurationError
from core.providers.rules import text
from core.providers.rules.knowledge import SETTING, Intent, KnowledgeBase

# Weights of words outside the knowledge base, in multiples of the rarest word's weight.
_UNKNOWN_WEIGHT = 2.5
_FOREIGN_WEIGHT = 4.0
_MIN_EVIDENCE = 0.6  # in rare words: what an intent must share with a question to be considered
_VOCABULARY_CREDIT = 0.5  # how much a token counts when explained by another example of the intent
_PRECISION_BETA = 0.65  # F-measure weight: < 1 favours precision over recall
_CORRECTED_QUALITY = 0.85  # a corrected typo is evidence, but weaker than the word itself


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The intent a question was matched to, with a confidence between 0 and 1."""

    intent: Intent
    confidence: float


@dataclass(frozen=True, slots=True)
class _Example:
    tokens: frozenset[str]
    weight: float  # at least one rare word's weight (see the module docstring)


@dataclass(frozen=True, slots=True)
class _IntentIndex:
    intent: Intent
    examples: tuple[_Example, ...]
    vocabulary: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Query:
    evidence: dict[str, float]  # token -> weight x quality: what it proves when an intent has it
    total: float  # the weight of every token, explained or not


class IntentMatcher:
    """Matches questions to one knowledge base's intents; all preparation happens here, once."""

    def __init__(self, kb: KnowledgeBase, min_confidence: float) -> None:
        if not 0.0 < min_confidence <= 1.0:
            raise ValueError("min_confidence must be in (0, 1]")
        self._min_confidence = min_confidence
        texts = {intent.id: (*intent.examples, *intent.keywords) for intent in kb.intents}
        phrases = {
            intent_id: [frozenset(t.token for t in text.tokens(text.words(e))) for e in entries]
            for intent_id, entries in texts.items()
        }
        # Typo targets by first letter, most frequent first so that a typo equally close to two
        # words becomes the commoner one.
        counts = Counter(
            word for entries in texts.values() for entry in entries for word in text.words(entry)
        )
        counts.update(dict.fromkeys(text.CORRECTION_TARGETS, 0))
        self._targets: dict[str, list[str]] = {}
        for word in sorted(counts, key=lambda word: (-counts[word], word)):
            self._targets.setdefault(word[0], []).append(word)
        self._known_stems = frozenset(text.stem(word) for word in (*counts, *text.KNOWN_WORDS))

        document_frequency = Counter(
            token for tokens in phrases.values() for token in frozenset().union(*tokens)
        )
        intent_count = len(kb.intents)
        self._weights = {
            token: math.log(1 + intent_count / df) for token, df in document_frequency.items()
        }
        self._rare_weight = math.log(1 + intent_count)  # a token only one intent uses
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
        """The best-scoring intent whatever the threshold (for tuning and diagnostics).

        None when no intent shares enough with ``text`` to score at all.
        """
        query = self._query(text)
        best: IntentMatch | None = None
        for entry in self._index:
            score = self._score(query, entry)
            if score > 0.0 and (best is None or score > best.confidence):
                best = IntentMatch(entry.intent, score)
        return best

    def _index_intent(self, intent: Intent, phrases: list[frozenset[str]]) -> _IntentIndex:
        examples = tuple(
            _Example(tokens, max(self._rare_weight, sum(self._weights[t] for t in tokens)))
            for tokens in phrases
            if tokens  # an example made only of filler or details can never be matched
        )
        if not examples:
            # Caught at start-up: otherwise the intent would silently never answer.
            raise ConfigurationError(
                SETTING, f"intent '{intent.id}' has only filler words in its examples and keywords"
            )
        vocabulary = frozenset[str]().union(*(example.tokens for example in examples))
        return _IntentIndex(intent, examples, vocabulary)

    def _query(self, question: str) -> _Query:
        written: list[str] = []
        corrected: set[str] = set()
        for word in text.words(question):
            replacement = None if text.stem(word) in self._known_stems else self._correct(word)
            if replacement is not None:
                corrected.add(replacement)
            written.append(replacement or word)
        weights: dict[str, float] = {}
        evidence: dict[str, float] = {}
        for token in text.tokens(written):
            if token.token in self._weights:  # the knowledge base has the last word
                weight = self._weights[token.token]
            elif len(token.word) <= 2:
                continue  # an unknown word this short is an abbreviation or a typo ("hw", "ya")
            else:
                weight = self._rare_weight * (
                    _FOREIGN_WEIGHT if token.foreign else _UNKNOWN_WEIGHT
                )
            quality = token.quality * (_CORRECTED_QUALITY if token.word in corrected else 1.0)
            weights[token.token] = weight
            evidence[token.token] = max(evidence.get(token.token, 0.0), weight * quality)
        return _Query(evidence, sum(weights.values()))

    def _correct(self, word: str) -> str | None:
        allowed = 0 if len(word) <= 4 else 1 if len(word) <= 8 else 2
        if not allowed or not word.isalpha():
            return None
        found = process.extractOne(
            word, self._targets.get(word[0], ()), scorer=OSA.distance, score_cutoff=allowed
        )
        return None if found is None else str(found[0])

    def _score(self, query: _Query, entry: _IntentIndex) -> float:
        evidence = query.evidence
        explained = sum(proof for token, proof in evidence.items() if token in entry.vocabulary)
        if explained < _MIN_EVIDENCE * self._rare_weight:
            return 0.0
        best = 0.0
        for example in entry.examples:
            shared = sum(evidence[token] for token in example.tokens if token in evidence)
            if shared:
                own_and_credited = shared + _VOCABULARY_CREDIT * (explained - shared)
                precision, recall = own_and_credited / query.total, shared / example.weight
                best = max(best, _f_measure(precision, recall))
        return min(best, 1.0)  # rounding may overshoot an exact match


def _f_measure(precision: float, recall: float) -> float:
    beta2 = _PRECISION_BETA**2
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)
