"""Input screening: scores each incoming message for abuse and keeps a per-user risk signal.

Three kinds of signal, each a flag with a weight:

- prompt injection: "ignore previous instructions", "you are now ...", role-play jailbreaks,
  chat-template markup, and base64 blobs that decode to readable text (a hidden instruction);
- attempts to extract the system prompt: "system prompt", "repeat the text above", "what are
  your instructions";
- abusive repetition: the same or nearly the same message many times in a short window from
  one user (fuzzy-matched with rapidfuzz).

Nothing here blocks a message. ``ScreeningStage`` records the score in a ``RiskLedger`` that
decays over time; rate limiting reads ``RiskLedger.risk`` and decides. The stage also adds risk
for each answer the output validator rejected on the way to the reply (its trail says which):
what the model was coaxed into says something about the question. ``core/ratelimit/risk.py``
lists every risk signal.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from loguru import logger
from rapidfuzz import fuzz

from core.cache.lru import BoundedCache
from core.clock import Clock
from core.guardrails.rules import Reason
from core.logref import pseudonym
from core.model import Reply, Turn
from core.ports import Next

_LN2 = math.log(2)

IGNORE_INSTRUCTIONS = "injection.ignore_instructions"
ROLE_OVERRIDE = "injection.role_override"
JAILBREAK = "injection.jailbreak"
TEMPLATE_MARKUP = "injection.template_markup"
ENCODED_BLOB = "injection.encoded_blob"
PROMPT_EXTRACTION = "extraction.system_prompt"
REPETITION = "abuse.repetition"

_I = re.IGNORECASE
# Each pattern names its flag. They are phrased around what an attacker must say, so ordinary
# shop questions ("ignore my last order", "you are now shipping to Canada?") stay clear.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        IGNORE_INSTRUCTIONS,
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b(?:\W+\w+){0,3}?\W+"
            r"(?:previous|prior|above|earlier|preceding|original|initial|all|any|your|the)\W+"
            r"(?:\w+\W+){0,2}?(?:instructions?|rules|prompts?|directives?|guidelines|"
            r"constraints|guardrails|programming)\b",
            _I,
        ),
    ),
    (
        ROLE_OVERRIDE,
        re.compile(
            r"\byou\s+are\s+(?:now|no\s+longer)\s+(?:an?\s+|the\s+|my\s+)?(?!open\b|closed\b|"
            r"shipping\b|out\b|available\b|offering\b|selling\b|accepting\b|on\b|in\b|back\b)"
            r"\w+|\bfrom\s+now\s+on,?\s+you\s+(?:are|will|must|shall)\b|"
            r"\b(?:pretend|imagine)\s+(?:that\s+)?you\s+(?:are|have)\s+(?:an?\s+)?"
            r"(?:ai|assistant|bot|model|chatbot|unrestricted|unfiltered|evil|different)\b|"
            r"\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|"
            r"different\s+ai|dan)\b|\bnew\s+(?:system\s+)?(?:instructions|persona|role)\s*:",
            _I,
        ),
    ),
    (
        JAILBREAK,
        re.compile(
            r"\bDAN\b|\bdo\s+anything\s+now\b|\bjail\s*-?\s*break|\bdeveloper\s+mode\b|"
            r"\bgod\s+mode\b|\bstay\s+in\s+character\b|"
            # "no filters" alone is a coffee machine; aimed at how the bot answers, a jailbreak.
            r"\b(?:answer|respond|reply|talk|speak|act|behave)\s+(?:\w+\s+){0,2}?"
            r"(?:with\s+no|without(?:\s+any)?)\s+(?:restrictions|filters|limits|limitations|"
            r"censorship|rules|guidelines|ethics)\b|"
            r"\b(?:uncensored|unfiltered|unrestricted)\s+(?:mode|ai|assistant|version|response)",
            _I,
        ),
    ),
    (
        TEMPLATE_MARKUP,
        re.compile(
            r"<\|(?:im_start|im_end|system|endoftext)\|>|\[/?INST\]|<<SYS>>|"
            r"^\s*#{2,}\s*(?:system|instruction)|^\s*(?:system|assistant)\s*:",
            _I | re.MULTILINE,
        ),
    ),
    (
        PROMPT_EXTRACTION,
        re.compile(
            r"\bsystem\s*prompt\b|\b(?:initial|original|hidden|secret|internal|pre-?prompt)\s+"
            r"(?:instructions|prompt|rules|message)\b|"
            r"\b(?:repeat|print|output|show|reveal|display|tell\s+me|write\s+out|recite|"
            r"spell\s+out)\s+(?:me\s+)?(?:all\s+|everything\s+|verbatim\s+)?"
            r"(?:the\s+|your\s+)?(?:text|words|message|messages|everything|content|instructions|"
            r"prompt|rules)\s+(?:above|before|that\s+came\s+before|you\s+were\s+given|"
            # ... and nothing after but an end, so "the rules above 100 euros" is a question.
            r"verbatim)(?=\s*(?:$|[.!?,:;]|verbatim|word\s+for\s+word|exactly|in\s+full|this))|"
            r"\bwhat\s+(?:are|were)\s+your\s+(?:exact\s+|original\s+|initial\s+)?"
            r"(?:instructions|rules|directives)\b|"
            r"\b(?:show|reveal|print|repeat|give)\s+(?:me\s+)?your\s+(?:prompt|instructions)\b",
            _I,
        ),
    ),
)

_WEIGHTS: Mapping[str, float] = {
    IGNORE_INSTRUCTIONS: 0.6,
    ROLE_OVERRIDE: 0.4,
    JAILBREAK: 0.5,
    TEMPLATE_MARKUP: 0.5,
    ENCODED_BLOB: 0.4,
    PROMPT_EXTRACTION: 0.5,
    REPETITION: 0.3,
}

# A rejected answer is as often the model's slip as the user's doing: less than a screening flag.
REJECTION_RISK = 0.2
# A leak is what extraction attempts are after: as much as the extraction flag itself.
LEAK_REJECTION_RISK = 0.5
# One question's retries repeat one act of the user: a turn's rejections add at most this.
MAX_REJECTION_RISK_PER_TURN = 1.0
_REJECTION_WEIGHTS: Mapping[str, float] = {
    Reason.PROMPT_LEAK: LEAK_REJECTION_RISK,
    Reason.SECRET_LEAK: LEAK_REJECTION_RISK,
    # Empty, cut off or too long: the provider's mechanics, nothing the user did.
    Reason.EMPTY: 0.0,
    Reason.TRUNCATED: 0.0,
    Reason.TOO_LONG: 0.0,
}
_REJECTED = ":rejected:"  # a ladder trail entry: "openai:rejected:pii_email"

# 32+ base64 characters: long enough that words, order numbers and tracking codes fall short.
_BLOB = re.compile(r"[A-Za-z0-9+/]{32,}={0,2}|[A-Za-z0-9_-]{32,}={0,2}")


@dataclass(frozen=True, slots=True)
class Screening:
    """What screening found in one message: named flags and a score in [0, 1]."""

    flags: frozenset[str]
    score: float


CLEAN = Screening(frozenset(), 0.0)


def _decodes_to_text(blob: str) -> bool:
    """True when ``blob`` is base64 of mostly printable text: a message hidden from a reader.

    Random tokens (hashes, tracking ids) decode to bytes that are mostly unprintable.
    """
    padded = blob + "=" * (-len(blob) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded)
        except (binascii.Error, ValueError):
            continue
        if raw and sum(32 <= b < 127 or b in (9, 10, 13) for b in raw) / len(raw) >= 0.9:
            return True
    return False


def rejections(trail: Iterable[str]) -> list[str]:
    """The validator's reasons for each answer rejected along ``trail``, in order."""
    return [entry.rpartition(_REJECTED)[2] for entry in trail if _REJECTED in entry]


def rejection_risk(reasons: Iterable[str]) -> float:
    """The risk one turn's rejected answers add, capped per turn."""
    total = sum(_REJECTION_WEIGHTS.get(reason, REJECTION_RISK) for reason in reasons)
    return min(MAX_REJECTION_RISK_PER_TURN, total)


class InputScreen:
    """Scores a message's text, and its repetition per user within ``window_seconds``.

    A message counts as repeated when at least ``repeat_threshold`` messages from the same user
    in the window (this one included) are ``similarity``% alike. Memory is bounded: the last
    ``per_user_memory`` messages of at most ``max_users`` users (least recently seen dropped).
    """

    def __init__(
        self,
        *,
        window_seconds: float = 120.0,
        repeat_threshold: int = 4,
        similarity: float = 90.0,
        per_user_memory: int = 20,
        max_users: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        if repeat_threshold < 2:
            raise ValueError("repeat_threshold must be at least 2")
        if per_user_memory < 1:
            raise ValueError("per_user_memory must be at least 1")
        self._window = window_seconds
        self._threshold = repeat_threshold
        self._similarity = similarity
        self._per_user = per_user_memory
        self._clock = clock
        self._recent: BoundedCache[deque[tuple[float, str]]] = BoundedCache(max_users)

    def screen(self, text: str, user_key: str) -> Screening:
        """Flags and score for ``text`` from ``user_key``; also remembers it for repetition."""
        flags = {flag for flag, pattern in _PATTERNS if pattern.search(text)}
        if any(_decodes_to_text(m.group()) for m in _BLOB.finditer(text)):
            flags.add(ENCODED_BLOB)
        if self._repeated(text, user_key):
            flags.add(REPETITION)
        if not flags:
            return CLEAN
        # Independent signals combine like probabilities: more flags, higher, never above 1.
        score = 1.0 - math.prod(1.0 - _WEIGHTS[flag] for flag in flags)
        return Screening(frozenset(flags), round(score, 6))

    def _repeated(self, text: str, user_key: str) -> bool:
        now = self._clock()
        normalised = " ".join(text.casefold().split())
        recent = self._recent.get(user_key)
        if recent is None:
            recent = deque(maxlen=self._per_user)
            self._recent.put(user_key, recent)
        while recent and now - recent[0][0] > self._window:
            recent.popleft()
        alike = sum(
            1
            for _, earlier in recent
            if fuzz.ratio(normalised, earlier, score_cutoff=self._similarity) > 0
        )
        recent.append((now, normalised))
        return alike + 1 >= self._threshold


class RiskLedger:
    """Per-user risk: each screening's score added, the total halving every ``half_life``.

    Bounded to ``max_users`` (least recently touched dropped). Users with nothing flagged are
    never stored, so ordinary traffic costs no memory here.
    """

    def __init__(
        self, half_life_seconds: float, max_users: int, clock: Clock = time.monotonic
    ) -> None:
        if half_life_seconds <= 0:
            raise ValueError("half_life_seconds must be positive")
        self._half_life = half_life_seconds
        self._clock = clock
        # (risk, when it was recorded); bounded, least recently recorded or read dropped first.
        self._scores: BoundedCache[tuple[float, float]] = BoundedCache(max_users)

    def __len__(self) -> int:
        return len(self._scores)

    def record(self, user_key: str, score: float) -> float:
        """Add ``score`` to the user's decayed risk; returns the new risk."""
        if score <= 0:
            return self.risk(user_key)
        now = self._clock()
        risk = self._decayed(user_key, now) + score
        self._scores.put(user_key, (risk, now))
        return risk

    def risk(self, user_key: str) -> float:
        """The user's current risk, 0 for someone never flagged (or forgotten)."""
        return self._decayed(user_key, self._clock())

    def _decayed(self, user_key: str, now: float) -> float:
        stored = self._scores.get(user_key)
        if stored is None:
            return 0.0
        value, at = stored
        return value * math.exp(-_LN2 * max(0.0, now - at) / self._half_life)


class ScreeningStage:
    """Screens every non-command message and records its score; always calls ``call_next``.

    Once the turn is answered, the validator rejections in the reply's trail add risk to the
    sender. ``flag_counts`` counts each flag raised and ``rejections`` each rejection seen, for
    metrics. A failure inside screening is logged and ignored: screening must never cost a user
    their answer.
    """

    def __init__(self, screen: InputScreen, ledger: RiskLedger) -> None:
        self._screen = screen
        self._ledger = ledger
        self.flag_counts: dict[str, int] = {}
        self.screened = 0
        self.rejections = 0

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        message = turn.message
        if message.command is None:
            try:
                self._record(message.text, message.user.key)
            except Exception as exc:
                logger.opt(exception=exc).error(
                    "input screening failed (conversation {})", pseudonym(turn.conversation_key)
                )
        reply = await call_next(turn)
        if reply.trail:
            try:
                self._record_rejections(reply.trail, message.user.key)
            except Exception as exc:
                logger.opt(exception=exc).error(
                    "recording rejections failed (conversation {})",
                    pseudonym(turn.conversation_key),
                )
        return reply

    def _record_rejections(self, trail: Iterable[str], user_key: str) -> None:
        reasons = rejections(trail)
        if not reasons:
            return
        self.rejections += len(reasons)
        added = rejection_risk(reasons)
        if added <= 0:
            return
        risk = self._ledger.record(user_key, added)
        logger.info(
            "validator rejected {} (user {}, added {:.2f}, risk {:.2f})",
            ",".join(reasons),
            pseudonym(user_key),
            added,
            risk,
        )

    def _record(self, text: str, user_key: str) -> None:
        screening = self._screen.screen(text, user_key)
        self.screened += 1
        if not screening.flags:
            return
        for flag in screening.flags:
            self.flag_counts[flag] = self.flag_counts.get(flag, 0) + 1
        risk = self._ledger.record(user_key, screening.score)
        logger.info(
            "screening flagged {} (user {}, score {:.2f}, risk {:.2f})",
            ",".join(sorted(screening.flags)),
            pseudonym(user_key),
            screening.score,
            risk,
        )
