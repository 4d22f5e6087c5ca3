"""Grounded figures: every amount and date a reply states must agree with what is known.

A figure "states" a fact when one of the fact's names ("balance", "store credit") stands near it
in the same sentence; it must then equal that fact, or it is a ``wrong_figure``. Any other money
amount must appear in the facts, the reference texts, the conversation, or follow from them by
one addition or subtraction ("€89.90 minus the €6.95 label fee"), or it is an
``unsupported_amount``. Dates are only checked when they state a fact: "closed on 25 December" is
not something the facts can contradict.
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


@dataclass(frozen=True, slots=True)
class FigureProblem:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class FactFigures:
    """The facts whose values are figures, parsed once per turn."""

    money: Mapping[str, Money]
    days: Mapping[str, Day]

    @classmethod
    def of(cls, facts: Mapping[str, str]) -> FactFigures:
        money: dict[str, Money] = {}
        days: dict[str, Day] = {}
        for name, value in facts.items():
            amount = parse_money(value)
            if amount is not None:
                money[name] = amount
                continue
            day = parse_day(value)
            if day is not None:
                days[name] = day
        return cls(money, days)


class FigureChecker:
    """Checks the figures of one reply; keeps the compiled fact-name patterns between turns."""

    def __init__(self, rules: ValidatorRules) -> None:
        self._rules = rules
        self._names: dict[str, re.Pattern[str]] = {}

    def check(
        self, text: str, facts: FactFigures, supported: Callable[[Money], bool]
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
            stated = day_claims.get(index, ())
            if stated and not any(day.value.same_as(facts.days[f]) for f in stated):
                return FigureProblem(
                    Reason.WRONG_FIGURE, f"{day.value} stated as {' / '.join(stated)}"
                )
        for index, amount in enumerate(amounts):
            if index in money_claims:
                continue
            if any(amount.value.same_as(known) for known in facts.money.values()):
                continue
            if not supported(amount.value):
                return FigureProblem(
                    Reason.UNSUPPORTED_AMOUNT, f"{amount.value} is in no fact or reference"
                )
        return None

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
