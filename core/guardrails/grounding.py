"""Grounded figures: every amount and date a reply states must agree with what is known.

A figure "states" a fact when one of the fact's names ("balance", "store credit") stands near it
in the same sentence; it must then equal that fact, or it is a ``wrong_figure``. Any other money
amount must appear in the facts, the reference texts, the conversation, or follow from them by
one addition or subtraction ("€89.90 minus the €6.95 label fee"), or it is an
``unsupported_amount`` -- unless its sentence talks about what a money fact names ("left on your
account" for ``balance``), in which case it contradicts that fact: a ``wrong_figure``.

A date that states a fact must equal it. A date that equals no date fact, and is in neither the
conversation nor a reference text, is a ``wrong_figure`` when its sentence talks about what a
date fact names ("your refund" for ``refund_date``, "arrive" for ``expected_delivery``). Any other
date is left alone: "closed on 25 December" is not something the facts can contradict.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from core.guardrails.figures import (
    Day,
    Found,
    Money,
    find_days,
    find_money,
    parse_day,
    parse_money,
)
from core.guardrails.rules import Reason, ValidatorRules

_F = TypeVar("_F", Money, Day)
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n")
_WORD = re.compile(r"[a-z]+")
_CLAUSE_BREAK = re.compile(
    r"[,;:()\u2013\u2014]|\b(?:and|but|so|while|whereas|although|though)\b", re.IGNORECASE
)
_YOU = re.compile(r"\byou(?:rs?)?\b")


@dataclass(frozen=True, slots=True)
class FigureProblem:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class FactFigures:
    """The facts whose values are figures, parsed once per turn."""

    money: Mapping[str, Money]
    days: Mapping[str, Day]
    # The other values ("NW-20231"): naming one makes a sentence about the user's own things.
    others: tuple[str, ...] = ()

    @classmethod
    def of(cls, facts: Mapping[str, str], *, day_first: bool) -> FactFigures:
        money: dict[str, Money] = {}
        days: dict[str, Day] = {}
        others: list[str] = []
        for name, value in facts.items():
            amount = parse_money(value)
            if amount is not None:
                money[name] = amount
                continue
            day = parse_day(value, day_first=day_first)
            if day is not None:
                days[name] = day
            elif len(value.strip()) >= 4:
                others.append(value.strip().lower())
        return cls(money, days, tuple(others))


class FigureChecker:
    """Checks the figures of one reply; keeps the compiled fact-name patterns between turns."""

    def __init__(self, rules: ValidatorRules) -> None:
        self._rules = rules
        self._names: dict[str, re.Pattern[str]] = {}
        self._topics: dict[str, frozenset[str]] = {}

    def check(
        self,
        text: str,
        facts: FactFigures,
        supported: Callable[[Money], bool],
        known_day: Callable[[Day], bool] = lambda _: False,
    ) -> FigureProblem | None:
        amounts = find_money(text)
        days = find_days(text, day_first=self._rules.day_first) if facts.days else []
        if not amounts and not days:
            return None
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        money_claims = self._claims(text, ends, amounts, list(facts.money))
        day_claims = self._claims(text, ends, days, list(facts.days))
        for index, amount in enumerate(amounts):
            stated = money_claims.get(index, ())
            if stated and not any(amount.value.same_as(facts.money[f]) for f in stated):
                return FigureProblem(
                    Reason.WRONG_FIGURE, f"{amount.value} stated as {' / '.join(stated)}"
                )
        for index, day in enumerate(days):
            problem = self._day_problem(
                text,
                ends,
                day,
                stated=day_claims.get(index, ()),
                facts=facts,
                known_day=known_day,
            )
            if problem is not None:
                return problem
        for index, amount in enumerate(amounts):
            if index in money_claims:
                continue
            if any(amount.value.same_as(known) for known in facts.money.values()):
                continue
            if not supported(amount.value):
                return self._unsupported(text, ends, amount, facts)
        return None

    def _day_problem(
        self,
        text: str,
        ends: list[int],
        day: Found[Day],
        *,
        stated: tuple[str, ...],
        facts: FactFigures,
        known_day: Callable[[Day], bool],
    ) -> FigureProblem | None:
        """A date that states a fact must equal it; one that equals no fact is only wrong when
        its clause talks about a date fact of the user and nothing else in the turn holds it."""
        if stated:
            if any(day.value.same_as(facts.days[f]) for f in stated):
                return None
            return FigureProblem(
                Reason.WRONG_FIGURE, f"{day.value} stated as {' / '.join(stated)}"
            )
        if any(day.value.same_as(d) for d in facts.days.values()) or known_day(day.value):
            return None
        about = self._about(_clause(text, ends, day), facts.days, facts.others)
        if not about:
            return None
        return FigureProblem(
            Reason.WRONG_FIGURE, f"{day.value} matches no date of {' / '.join(about)}"
        )

    def _unsupported(
        self, text: str, ends: list[int], amount: Found[Money], facts: FactFigures
    ) -> FigureProblem:
        """An amount nothing supports: it contradicts a money fact its sentence talks about."""
        money = {
            name: value for name, value in facts.money.items() if _compatible(amount.value, value)
        }
        about = self._about(_sentence(text, ends, amount), money, facts.others)
        if about:
            return FigureProblem(
                Reason.WRONG_FIGURE, f"{amount.value} contradicts {' / '.join(about)}"
            )
        return FigureProblem(
            Reason.UNSUPPORTED_AMOUNT, f"{amount.value} is in no fact or reference"
        )

    def _about(
        self, sentence: str, facts: Mapping[str, object], others: Sequence[str]
    ) -> tuple[str, ...]:
        """The user's facts the sentence talks about, by their topic words anywhere in it.

        Only a sentence about the user's own things counts -- it addresses them ("your refund") or
        names one of their facts ("order NW-20231"); "orders over €1,000" is a general rule.
        """
        if not facts:
            return ()
        lowered = sentence.lower()
        if _YOU.search(lowered) is None and not any(o in lowered for o in others):
            return ()
        words = {_singular(w) for w in _WORD.findall(lowered)}
        return tuple(f for f in facts if words & self._topic(f))

    def _topic(self, fact: str) -> frozenset[str]:
        topic = self._topics.get(fact)
        if topic is None:
            topic = frozenset(_singular(w) for w in self._rules.topic_words(fact))
            self._topics[fact] = topic
        return topic

    def _claims(
        self, text: str, ends: list[int], figures: Sequence[Found[_F]], facts: list[str]
    ) -> dict[int, tuple[str, ...]]:
        """Which facts each figure states: a name's nearest figure in its sentence, if close."""
        if not figures or not facts:
            return {}
        sentence_of = [bisect_right(ends, f.start) for f in figures]
        claims: dict[int, list[str]] = {}
        for fact in facts:
            for mention in self._pattern(fact).finditer(text):
                sentence = bisect_right(ends, mention.start())
                best: tuple[int, int] | None = None
                for index, figure in enumerate(figures):
                    if sentence_of[index] != sentence:
                        continue
                    gap = max(figure.start - mention.end(), mention.start() - figure.end, 0)
                    if gap <= self._rules.claim_window and (best is None or gap < best[0]):
                        best = (gap, index)
                if best is not None:
                    stated = claims.setdefault(best[1], [])
                    if fact not in stated:
                        stated.append(fact)
        return {index: tuple(names) for index, names in claims.items()}

    def _pattern(self, fact: str) -> re.Pattern[str]:
        pattern = self._names.get(fact)
        if pattern is None:
            names = (re.escape(n).replace(r"\ ", r"\s+") for n in self._rules.names_for(fact))
            pattern = re.compile(r"\b(?:" + "|".join(names) + r")\b", re.IGNORECASE)
            self._names[fact] = pattern
        return pattern


def _sentence_span(text: str, ends: list[int], figure: Found[_F]) -> tuple[int, int]:
    index = bisect_right(ends, figure.start)
    return (ends[index - 1] if index else 0), (ends[index] if index < len(ends) else len(text))


def _sentence(text: str, ends: list[int], figure: Found[_F]) -> str:
    """The sentence that holds ``figure``."""
    start, end = _sentence_span(text, ends, figure)
    return text[start:end]


def _clause(text: str, ends: list[int], figure: Found[_F]) -> str:
    """The clause that holds ``figure``: "closed on 25 December, your order is safe" does not
    date the order."""
    start, end = _sentence_span(text, ends, figure)
    for match in _CLAUSE_BREAK.finditer(text, start, end):
        if match.start() >= figure.end:
            return text[start : match.start()]
        if match.end() <= figure.start:
            start = match.end()
    return text[start:end]


def _compatible(one: Money, other: Money) -> bool:
    return one.currency is None or other.currency is None or one.currency == other.currency


def _singular(word: str) -> str:
    """ "orders" → "order", "refunds" → "refund"; short words and "-ss" words stay as they are."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
