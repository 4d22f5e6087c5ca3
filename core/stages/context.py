"""Loads the conversation's recent history for the provider and records the exchange."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from loguru import logger

from core.context import (
    BudgetedMessage,
    ContextOverflowError,
    TokenCounter,
    budgeted,
    plan_context,
)
from core.logref import pseudonym
from core.model import (
    ChatMessage,
    IncomingMessage,
    Reply,
    ReplyKind,
    Role,
    StoredMessage,
    Turn,
    TurnOutcome,
)
from core.ports import ConversationStore, FactsProvider, Next

# Stored when the inner stages raise, so an operator can find questions that got no answer.
# Its empty text never reaches a prompt: the store leaves failed turns out of the context.
UNANSWERED = Reply("", kind=ReplyKind.ERROR, outcome=TurnOutcome.FAILED)


FACTS_TIMEOUT_SECONDS = 2.0
CORRECTION_ALLOWANCE = 64  # tokens of the ladder's corrective instruction

TOO_LONG = (
    "Your message is too long for me to read in one go. Please send a shorter one, "
    "or split it into a few messages."
)


@dataclass(frozen=True, slots=True)
class TokenBudget:
    """How much of the model's window the prompt may use, and how to count it."""

    tokens: int
    reply_reserve: int
    keep_recent: int
    counter: TokenCounter


class ContextStage:
    """Hands the provider the last ``history_limit`` messages since the last ``/reset``.

    The user's message is stored before the provider is called, so it is kept even when the
    turn fails; the reply is stored with provider, tokens, cost, latency and outcome.
    """

    def __init__(
        self,
        store: ConversationStore,
        history_limit: int,
        *,
        facts: FactsProvider | None = None,
        idle_reset: timedelta | None = None,
        budget: TokenBudget | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._store = store
        self._history_limit = history_limit
        self._facts = facts
        self._idle_reset = idle_reset
        self._budget = budget
        # What trimming left out of prompts, for the metrics (tokens saved by the budget).
        self.trimmed_turns = 0
        self.trimmed_tokens = 0
        self._clock = clock

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        message = turn.message
        # History first: it must not include the message being answered.
        history = await self._store.context(message.chat, self._history_limit)
        if self._idle_reset and _idle_for(history, message) > self._idle_reset:
            # A new visit after a long pause starts afresh, as a person at a counter would;
            # the reset is stored, so the visit's next messages do not bring the old one back.
            await self._store.reset_context(message.chat)
            history = ()
        facts = await self._load_facts(turn)
        turn = replace(turn, history=history, facts=facts)
        await self._store.record_incoming(message)
        started = self._clock()
        if self._budget is not None:
            try:
                turn = replace(turn, context=self._fit(turn, self._budget))
            except ContextOverflowError:
                reply = Reply(TOO_LONG, kind=ReplyKind.NOTICE, outcome=TurnOutcome.FAILED)
                await self._record(message, reply, started)
                return reply
        try:
            reply = await call_next(turn)
        except Exception:
            await self._record(message, UNANSWERED, started)
            raise  # the error boundary answers the user
        await self._record(message, reply, started)
        return reply

    async def _load_facts(self, turn: Turn) -> Mapping[str, str]:
        """The user's facts, in a one-to-one chat only: in a group they would reach everyone."""
        if self._facts is None or turn.message.chat.is_group:
            return {}
        try:
            async with asyncio.timeout(FACTS_TIMEOUT_SECONDS):
                return await self._facts.facts_for(turn.message.user)
        except TimeoutError:
            logger.warning("facts lookup timed out; answering without facts")
            return {}

    def _fit(self, turn: Turn, budget: TokenBudget) -> tuple[ChatMessage, ...]:
        """The prompt trimmed to the budget, dropping the least important old messages first."""
        plan = plan_context(
            turn.system_prompt,
            turn.facts_text(),
            [_weighed(stored, budget.counter) for stored in turn.history],
            turn.message.text,
            budget=budget.tokens,
            # Room for the ladder's one-line correction if a reply is rejected and retried.
            reply_reserve=budget.reply_reserve + CORRECTION_ALLOWANCE,
            keep_recent=budget.keep_recent,
            counter=budget.counter,
        )
        if plan.dropped:
            self.trimmed_turns += 1
            self.trimmed_tokens += plan.dropped_tokens
        return plan.messages

    async def _record(self, message: IncomingMessage, reply: Reply, started: float) -> None:
        latency_ms = (self._clock() - started) * 1000
        try:
            await self._store.record_reply(message, reply, latency_ms)
        except Exception as exc:
            # The user has an answer; failing to keep a copy must not turn it into an apology.
            logger.opt(exception=exc).error(
                "could not store a reply (conversation {})", pseudonym(message.chat.key)
            )


def _idle_for(history: tuple[StoredMessage, ...], message: IncomingMessage) -> timedelta:
    """How long the user was silent before ``message`` (zero for a new conversation)."""
    last = next((m for m in reversed(history) if m.role is Role.USER), None)
    return message.sent_at - last.created_at if last else timedelta(0)


def _weighed(stored: StoredMessage, counter: TokenCounter) -> BudgetedMessage:
    """The message with its stored token count and importance (worked out when it was stored).

    Only a store that keeps no weights (or rows from before they were kept) makes this count.
    """
    if stored.tokens is not None and stored.importance is not None:
        return BudgetedMessage(stored.role, stored.text, stored.tokens, stored.importance)
    return budgeted(stored.role, stored.text, counter)
