"""Serves repeated general questions from the response cache, without a provider call.

Safety rules (an answer shaped by one user's data must never reach another user):

1. A turn is *cacheable* only when
   - ``turn.facts`` is empty: nothing the business knows about the user reached the prompt;
   - ``turn.history`` is empty: no earlier message of the conversation shaped the answer;
   - the message is not a command;
   - the message carries nothing that looks personal (an e-mail address, a run of five or more
     digits such as an order, phone or card number) and is at most ``MAX_QUESTION_CHARS`` long.
   A turn that is not cacheable neither reads nor writes the cache: it goes to the ladder as if
   this stage were absent.
2. Only a reply with ``kind == ANSWER`` and ``outcome == ANSWERED`` that an LLM or the rules
   tier produced is stored. Notices, hand-offs, errors and the rules tier's honest "unknown"
   are never stored, nor is an empty answer or one that came from the cache itself.
3. A cached reply is served as a new ``Reply``: ``provider="cache"``, the original ``model``,
   zero usage (it costs nothing now) and ``trail=("cache:hit",)``.
4. The key is the normalised question plus everything that shapes the answer: the
   ``context_version`` the composition root builds (system prompt version, ladder models,
   knowledge-base version) and a digest of the turn's system prompt, so a prompt edited
   without bumping the version still cannot serve stale answers.

It sits after the context stage (the turn must already carry ``history`` and ``facts``) and
before the ladder, so a hit is still recorded in the conversation like any reply.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from core.cache.response_cache import CachedAnswer, ResponseCache, cache_key
from core.handoff.handoff import PROVIDER as HANDOFF_PROVIDER
from core.model import Reply, ReplyKind, Turn, TurnOutcome, Usage
from core.ports import Next

CACHE_PROVIDER = "cache"
HIT_TRAIL = (f"{CACHE_PROVIDER}:hit",)
# Longer messages almost never repeat word for word; not worth the memory or the risk.
MAX_QUESTION_CHARS = 300
# What makes a question about one person: contact details and long numbers (orders, cards...).
_PERSONAL = re.compile(r"[^\s@]+@[^\s@]+\.\w+|\d(?:[\s-]?\d){4,}")
# Replies that are not a model's or the rules' own answer to the question.
_NOT_ANSWERERS = frozenset({"", CACHE_PROVIDER, HANDOFF_PROVIDER})


def bypass_reason(turn: Turn) -> str | None:  # noqa: PLR0911 (a return per reason reads best)
    """Why ``turn`` must not touch the cache, or ``None`` when it may."""
    # Ordered so the counters name the most telling reason when several apply; the regex comes
    # last, so it only ever reads a short text (on a long one without spaces it is quadratic).
    text = turn.message.text
    if turn.message.command is not None:
        return "command"
    if turn.facts:
        return "facts"
    if turn.history:
        return "history"
    if not text.strip():
        return "empty"
    if len(text) > MAX_QUESTION_CHARS:
        return "too_long"
    if _PERSONAL.search(text):
        return "personal_data"
    return None


def is_storable(reply: Reply) -> bool:
    """Whether ``reply`` is a general answer another user may be given."""
    return (
        reply.kind is ReplyKind.ANSWER
        and reply.outcome is TurnOutcome.ANSWERED
        and reply.provider not in _NOT_ANSWERERS
        and bool(reply.text.strip())
    )


@dataclass
class CacheStageCounters:
    """Turns the stage let through untouched (by reason) and answers it declined to store."""

    bypassed: dict[str, int]
    not_stored: int = 0


class CacheStage:
    """Answers a cacheable turn from ``cache`` when it can; stores what the ladder answers."""

    def __init__(self, cache: ResponseCache, context_version: str) -> None:
        self._cache = cache
        self._context_version = context_version
        self._prompt_seen: str | None = None
        self._prompt_context = ""
        self.counters = CacheStageCounters(bypassed={})

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        reason = bypass_reason(turn)
        if reason is not None:
            self.counters.bypassed[reason] = self.counters.bypassed.get(reason, 0) + 1
            return await call_next(turn)
        # Normalising and hashing the question once serves both the look-up and the store.
        key = cache_key(turn.message.text, self._context_for(turn))
        cached = self._cache.get_by_key(key)
        if cached is not None:
            return Reply(
                cached.text,
                kind=ReplyKind.ANSWER,
                outcome=TurnOutcome.ANSWERED,
                provider=CACHE_PROVIDER,
                model=cached.model,
                usage=Usage(),
                trail=HIT_TRAIL,
            )
        reply = await call_next(turn)
        if is_storable(reply):
            answer = CachedAnswer(reply.text, reply.provider, reply.model, reply.usage)
            self._cache.put_by_key(key, answer)
        else:
            self.counters.not_stored += 1
        return reply

    def metrics(self) -> dict[str, float]:
        """The cache's counters plus this stage's, flat, for a metrics exporter."""
        values = self._cache.stats().as_dict()
        for reason, count in self.counters.bypassed.items():
            values[f"bypassed_{reason}"] = count
        values["not_stored"] = self.counters.not_stored
        return values

    def _context_for(self, turn: Turn) -> str:
        # The prompt is the same on nearly every turn: hash it only when it changes.
        if turn.system_prompt != self._prompt_seen:
            digest = hashlib.sha256(turn.system_prompt.encode("utf-8")).hexdigest()[:16]
            self._prompt_seen = turn.system_prompt
            self._prompt_context = f"{self._context_version}|prompt:{digest}"
        return self._prompt_context
