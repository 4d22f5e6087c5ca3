"""What the output validator checks and how it reacts, as operators write it in YAML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import yaml

from core.errors import ConfigurationError

SETTING = "VALIDATOR_RULES_PATH"


class Reason(StrEnum):
    """Why a reply was rejected: stable codes, used for the retry instruction and in metrics."""

    PII_EMAIL = "pii_email"
    PII_PHONE = "pii_phone"
    PII_CARD = "pii_card"
    PII_NATIONAL_ID = "pii_national_id"
    PII_IBAN = "pii_iban"
    WRONG_FIGURE = "wrong_figure"
    UNSUPPORTED_AMOUNT = "unsupported_amount"
    PROMPT_LEAK = "prompt_leak"
    SECRET_LEAK = "secret_leak"  # noqa: S105 (a reason code, not a password)
    EMPTY = "empty"
    TRUNCATED = "truncated"
    TOO_LONG = "too_long"


class Action(StrEnum):
    """``reject`` sends the reply back for a retry; ``redact`` blanks the finding and sends it."""

    REJECT = "reject"
    REDACT = "redact"


# Only findings that can be cut out of a sentence without changing its meaning may be redacted.
REDACTABLE = frozenset(
    {
        Reason.PII_EMAIL,
        Reason.PII_PHONE,
        Reason.PII_CARD,
        Reason.PII_NATIONAL_ID,
        Reason.PII_IBAN,
        Reason.SECRET_LEAK,
    }
)

_NO_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ValidatorRules:
    """The validator's tunables; every field has a safe default, so ``ValidatorRules()`` works."""

    # Reasons absent here are rejected.
    actions: Mapping[Reason, Action] = field(default_factory=dict)
    # Words that name a fact in a sentence ("store credit" for ``balance``). A fact's own name,
    # underscores read as spaces, always counts too.
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NO_SYNONYMS)
    # The business's own published addresses (exact, lower case), never someone's personal data.
    # Whole domains are not allowed: "p.vos@shop.example" is a person even on the shop's domain.
    allowed_emails: tuple[str, ...] = ()
    # This many consecutive words of the system prompt in a reply is a leak.
    prompt_leak_words: int = 10
    # A figure states a fact when the fact's name is at most this many characters away.
    claim_window: int = 60
    # "03/11/2026" is 3 November (Europe) rather than 11 March (US).
    day_first: bool = True

    def action(self, reason: Reason) -> Action:
        return self.actions.get(reason, Action.REJECT)

    def names_for(self, fact: str) -> tuple[str, ...]:
        """Every phrase that refers to ``fact`` in a reply, longest first."""
        own = fact.replace("_", " ").strip().lower()
        names = {own, *(s.lower() for s in self.synonyms.get(fact, ()))}
        return tuple(sorted((n for n in names if n), key=len, reverse=True))

    def topic_words(self, fact: str) -> frozenset[str]:
        """Single words that show a sentence is about what ``fact`` names, wherever they stand.

        The words of the fact's own key that name a thing ("refund" in ``refund_date``, not
        "date"), the words of its synonyms, and the vocabulary of every configured fact that
        shares such a word with it: ``expected_delivery`` borrows "arrive" from ``delivery_date``.
        """
        own = _key_words(fact)
        words = set(own) | _phrase_words(self.synonyms.get(fact, ()))
        for other, phrases in self.synonyms.items():
            if other != fact and own & _key_words(other):
                words |= _key_words(other) | _phrase_words(phrases)
        return frozenset(words)


# Words that say which attribute of a thing a fact holds, or glue a phrase together, rather than
# name the thing: "last_order_total" is about the order, not about "last" or "total".
_NOT_TOPICS = frozenset(
    {
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "and", "or", "your", "my",
        "our", "is", "was", "came", "has", "have", "last", "first", "latest", "previous", "next",
        "current", "expected", "estimated", "date", "day", "time", "amount", "total", "value",
        "sum", "number", "no", "id", "code", "status",
    }
)  # fmt: skip
_WORD = re.compile(r"[a-z]+")


def _phrase_words(phrases: tuple[str, ...] | list[str]) -> set[str]:
    return {w for p in phrases for w in _WORD.findall(p.lower()) if w not in _NOT_TOPICS}


def _key_words(fact: str) -> set[str]:
    return _phrase_words([fact.replace("_", " ")])


def load_validator_rules(path: Path) -> ValidatorRules:
    """Read the rules file; any problem is a ``ConfigurationError`` naming the setting."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(SETTING, f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(SETTING, f"{path}: expected a mapping at the top level")
    known = {
        "actions",
        "fact_synonyms",
        "allowed_emails",
        "prompt_leak_words",
        "claim_window_chars",
        "dates",
    }
    if "allowed_email_domains" in document:
        raise ConfigurationError(
            SETTING,
            f"{path}: allowed_email_domains is gone; list exact addresses under allowed_emails",
        )
    unknown = sorted(set(document) - known)
    if unknown:
        raise ConfigurationError(SETTING, f"{path}: unknown keys {unknown}")
    return ValidatorRules(
        actions=_actions(path, document.get("actions") or {}),
        synonyms=_synonyms(path, document.get("fact_synonyms") or {}),
        allowed_emails=tuple(a.lower() for a in _strings(path, "allowed_emails", document)),
        prompt_leak_words=_positive(path, "prompt_leak_words", document, default=10),
        claim_window=_positive(path, "claim_window_chars", document, default=60),
        day_first=_day_first(path, document.get("dates", "day_first")),
    )


def _actions(path: Path, raw: object) -> dict[Reason, Action]:
    if not isinstance(raw, dict):
        raise ConfigurationError(SETTING, f"{path}: actions must map reason codes to actions")
    actions: dict[Reason, Action] = {}
    for key, value in raw.items():
        try:
            reason, action = Reason(str(key)), Action(str(value))
        except ValueError as exc:
            raise ConfigurationError(
                SETTING,
                f"{path}: actions.{key}: expected a reason code and reject|redact, got {value!r}",
            ) from exc
        if action is Action.REDACT and reason not in REDACTABLE:
            raise ConfigurationError(SETTING, f"{path}: actions.{key}: {key} cannot be redacted")
        actions[reason] = action
    return actions


def _synonyms(path: Path, raw: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ConfigurationError(SETTING, f"{path}: fact_synonyms must map fact names to lists")
    synonyms: dict[str, tuple[str, ...]] = {}
    for fact, words in raw.items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise ConfigurationError(
                SETTING, f"{path}: fact_synonyms.{fact} must be a list of phrases"
            )
        synonyms[str(fact)] = tuple(words)
    return synonyms


def _strings(path: Path, key: str, document: dict[object, object]) -> list[str]:
    raw = document.get(key) or []
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ConfigurationError(SETTING, f"{path}: {key} must be a list of strings")
    return list(raw)


def _positive(path: Path, key: str, document: dict[object, object], *, default: int) -> int:
    raw = document.get(key, default)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise ConfigurationError(SETTING, f"{path}: {key} must be a positive whole number")
    return raw


def _day_first(path: Path, raw: object) -> bool:
    if raw not in ("day_first", "month_first"):
        raise ConfigurationError(SETTING, f"{path}: dates must be day_first or month_first")
    return raw == "day_first"
