"""Scores the output validator on a labelled set of replies: precision and recall per reason.

The set's format is described at the top of ``tests/core/guardrails/labelled_replies.yaml``;
both the tests and ``bench/validator.py`` read it through here, so they report the same figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from core.guardrails.rules import Reason, ValidatorRules
from core.guardrails.validator import OutputValidator
from core.model import ChatRef, IncomingMessage, Role, StoredMessage, Turn, UserRef

OK = "ok"
_WHEN = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
_USER = UserRef("web", "labelled")


@dataclass(frozen=True, slots=True)
class LabelledReply:
    id: str
    reply: str
    expected: str
    turn: Turn
    max_chars: int


@dataclass(frozen=True, slots=True)
class LabelledSet:
    cases: tuple[LabelledReply, ...]
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Scores:
    """Counts per label; ``outcomes`` holds (id, expected, got) for every case."""

    outcomes: tuple[tuple[str, str, str], ...]
    labels: tuple[str, ...] = field(default=())

    def precision(self, label: str) -> float:
        said = [o for o in self.outcomes if o[2] == label]
        return sum(o[1] == label for o in said) / len(said) if said else 1.0

    def recall(self, label: str) -> float:
        wanted = [o for o in self.outcomes if o[1] == label]
        return sum(o[2] == label for o in wanted) / len(wanted) if wanted else 1.0

    def support(self, label: str) -> int:
        return sum(o[1] == label for o in self.outcomes)

    def false_positive_rate(self) -> float:
        """Share of replies labelled ``ok`` that the validator rejected."""
        good = [o for o in self.outcomes if o[1] == OK]
        return sum(o[2] != OK for o in good) / len(good) if good else 0.0

    def mistakes(self) -> list[tuple[str, str, str]]:
        return [o for o in self.outcomes if o[1] != o[2]]

    def table(self) -> str:
        lines = [f"{'reason':<20} {'n':>4} {'precision':>10} {'recall':>8}"]
        for label in self.labels:
            lines.append(
                f"{label:<20} {self.support(label):>4} "
                f"{self.precision(label):>10.3f} {self.recall(label):>8.3f}"
            )
        lines.append(f"false-positive rate on ok replies: {self.false_positive_rate():.3f}")
        return "\n".join(lines)


def _turn(case: Mapping[str, Any], defaults: Mapping[str, Any]) -> Turn:
    message = IncomingMessage(
        message_id=str(case["id"]),
        user=_USER,
        chat=ChatRef("web", "labelled"),
        text=str(case.get("user_message", defaults.get("user_message", ""))),
        sent_at=_WHEN,
    )
    history = tuple(
        StoredMessage(i, Role.USER if i % 2 == 0 else Role.ASSISTANT, str(text), _WHEN)
        for i, text in enumerate(case.get("history") or ())
    )
    facts = case["facts"] if "facts" in case else defaults.get("facts") or {}
    return Turn(
        message=message,
        history=history,
        system_prompt=str(defaults.get("system_prompt", "")),
        facts=MappingProxyType({str(k): str(v) for k, v in facts.items()}),
    )


def load_labelled_set(path: Path) -> LabelledSet:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = document.get("defaults") or {}
    cases = tuple(
        LabelledReply(
            id=str(case["id"]),
            reply=str(case["reply"]),
            expected=str(case["expected"]),
            turn=_turn(case, defaults),
            max_chars=int(case.get("max_chars", defaults.get("max_chars", 4000))),
        )
        for case in document["cases"]
    )
    return LabelledSet(cases, tuple(str(s) for s in defaults.get("secrets") or ()))


def score(labelled: LabelledSet, rules: ValidatorRules, reference_texts: Sequence[str]) -> Scores:
    """Run every case with every rule set to reject, so each finding shows as its reason."""
    strict = replace(rules, actions={})
    validators: dict[int, OutputValidator] = {}
    outcomes: list[tuple[str, str, str]] = []
    for case in labelled.cases:
        validator = validators.get(case.max_chars)
        if validator is None:
            validator = OutputValidator(
                strict,
                reference_texts=reference_texts,
                secrets=labelled.secrets,
                max_chars=case.max_chars,
            )
            validators[case.max_chars] = validator
        review = validator.review(case.reply, case.turn)
        got = review.problem.reason.value if review.problem else OK
        outcomes.append((case.id, case.expected, got))
    seen = Counter(o[1] for o in outcomes)
    labels = (*(r.value for r in Reason if seen[r.value]), OK)
    return Scores(tuple(outcomes), labels)
