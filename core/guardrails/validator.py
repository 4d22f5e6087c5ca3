"""The output validator: the ``Validator`` port the fallback ladder calls on every model reply.

Checks run cheapest first and the first problem wins: shape (empty, too long, truncated), secret
strings, system-prompt leaks, personal data, then grounded figures. Personal data the user gave,
or that the facts, the history or the reference texts already hold, is not a leak; a rule whose
action is ``redact`` blanks the finding and lets the reply through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from core.errors import ValidationFailed
from core.guardrails.figures import Day, Money, find_days, find_money
from core.guardrails.grounding import FactFigures, FigureChecker
from core.guardrails.leaks import PromptLeakCheck, find_secrets
from core.guardrails.pii import PiiHit, find_emails, find_pii
from core.guardrails.rules import Action, Reason, ValidatorRules
from core.guardrails.shape import shape_problem
from core.model import Turn

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")

REDACTED = {
    Reason.PII_EMAIL: "[email removed]",
    Reason.PII_PHONE: "[phone number removed]",
    Reason.PII_CARD: "[card number removed]",
    Reason.PII_NATIONAL_ID: "[ID number removed]",
    Reason.PII_IBAN: "[bank account removed]",
    Reason.SECRET_LEAK: "[removed]",
}


@dataclass(frozen=True, slots=True)
class Problem:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Review:
    """What the validator made of one reply: the text to send, or the problem that stops it."""

    text: str
    problem: Problem | None = None
    redacted: tuple[Reason, ...] = ()


class _Known:
    """What a turn already holds (message, history, facts), scanned only when a check asks."""

    def __init__(self, turn: Turn, *, day_first: bool) -> None:
        self._day_first = day_first
        self._texts = (turn.message.text, *(m.text for m in turn.history), *turn.facts.values())
        self._conversation = (turn.message.text, *(m.text for m in turn.history))

    @cached_property
    def emails(self) -> frozenset[str]:
        return find_emails("\n".join(self._texts))

    @cached_property
    def compact(self) -> str:
        return _NOT_ALNUM.sub("", "\n".join(self._texts)).upper()

    @cached_property
    def amounts(self) -> tuple[Money, ...]:
        return tuple(f.value for text in self._conversation for f in find_money(text))

    @cached_property
    def days(self) -> tuple[Day, ...]:
        return tuple(
            f.value
            for text in self._conversation
            for f in find_days(text, day_first=self._day_first)
        )


class OutputValidator:
    """Deterministic, regex-based checks of a reply against the turn it answers."""

    def __init__(
        self,
        rules: ValidatorRules,
        *,
        reference_texts: Sequence[str] = (),
        secrets: Sequence[str] = (),
        max_chars: int = 4000,
    ) -> None:
        if any(not s.strip() for s in secrets):
            raise ValueError("a secret must not be blank: it would match every reply")
        if max_chars < 1:
            raise ValueError("max_chars must be positive")
        self._rules = rules
        self._secrets = tuple(secrets)
        self._max_chars = max_chars
        joined = "\n".join(reference_texts)
        self._reference_compact = _NOT_ALNUM.sub("", joined).upper()
        self._reference_amounts = tuple(f.value for f in find_money(joined))
        self._reference_days = tuple(f.value for f in find_days(joined, day_first=rules.day_first))
        self._own_emails = frozenset(a.lower() for a in rules.allowed_emails) | find_emails(joined)
        self._prompt = PromptLeakCheck(rules.prompt_leak_words, reference_texts)
        self._figures = FigureChecker(rules)

    async def validate(self, text: str, turn: Turn) -> str:
        """The text to send, possibly redacted; raises ``ValidationFailed`` to reject it."""
        review = self.review(text, turn)
        if review.problem is not None:
            raise ValidationFailed(review.problem.reason, review.problem.detail)
        return review.text

    def review(self, text: str, turn: Turn) -> Review:
        """Every check on ``text``; pure and synchronous (well under a millisecond)."""
        shape = shape_problem(text, self._max_chars)
        if shape is not None:
            return Review(text, Problem(*shape))
        redacted: list[Reason] = []
        spans = find_secrets(text, self._secrets)
        if spans:
            if self._rules.action(Reason.SECRET_LEAK) is Action.REJECT:
                return Review(text, Problem(Reason.SECRET_LEAK, "a configured secret"))
            text = _blank(text, [(s, e, REDACTED[Reason.SECRET_LEAK]) for s, e in spans])
            redacted.append(Reason.SECRET_LEAK)
        leaked = self._prompt.leaked(text, turn.system_prompt, turn.message.text)
        if leaked is not None:
            words = self._rules.prompt_leak_words
            return Review(text, Problem(Reason.PROMPT_LEAK, f"{words}+ words of the prompt"))
        known = _Known(turn, day_first=self._rules.day_first)
        hits = [h for h in find_pii(text) if not self._is_known(h, known)]
        to_blank: list[tuple[int, int, str]] = []
        for hit in hits:
            if self._rules.action(hit.reason) is Action.REJECT:
                return Review(text, Problem(hit.reason, "personal data the user did not give"))
            to_blank.append((hit.start, hit.end, REDACTED[hit.reason]))
            if hit.reason not in redacted:
                redacted.append(hit.reason)
        if to_blank:
            text = _blank(text, to_blank)
        figures = FactFigures.of(turn.facts, day_first=self._rules.day_first)
        problem = self._figures.check(
            text,
            figures,
            lambda m: self._supported(m, figures, known),
            lambda d: any(d.same_as(o) for o in (*known.days, *self._reference_days)),
        )
        if problem is not None:
            return Review(text, Problem(problem.reason, problem.detail), tuple(redacted))
        return Review(text, None, tuple(redacted))

    def _is_known(self, hit: PiiHit, known: _Known) -> bool:
        if hit.reason is Reason.PII_EMAIL:
            # Only the very address: a name on the shop's own domain is still a person's.
            return hit.key in self._own_emails or hit.key in known.emails
        # Phone numbers are compared on their last nine digits, so "+31 10 555 0142" and
        # "010 555 0142" are the same number.
        key = hit.key[-9:] if hit.reason is Reason.PII_PHONE else hit.key
        return key in known.compact or key in self._reference_compact

    def _supported(self, amount: Money, facts: FactFigures, known: _Known) -> bool:
        """In a reference text or the conversation, or one step of arithmetic from them."""
        if amount.value == 0:
            return True
        personal = (*facts.money.values(), *known.amounts)
        anywhere = (*personal, *self._reference_amounts)
        if any(amount.same_as(other) for other in anywhere):
            return True
        # A refund "€89.90 minus the €6.95 label fee": one of the two is the user's own figure.
        for mine in personal:
            for other in anywhere:
                if other is mine or not _compatible(amount, mine, other):
                    continue
                if amount.value in (mine.value + other.value, abs(mine.value - other.value)):
                    return True
        return False


def _compatible(*amounts: Money) -> bool:
    named = {a.currency for a in amounts if a.currency is not None}
    return len(named) <= 1


def _blank(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` with each span replaced by its label, working from the end so offsets hold."""
    limit = len(text)
    for start, end, label in sorted(spans, reverse=True):
        if end > limit:  # overlaps a span already blanked
            continue
        text = text[:start] + label + text[end:]
        limit = start
    return text
