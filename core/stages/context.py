"""Loads the conversation's recent history for the provider and records the exchange."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from loguru import logger

from core.logref import pseudonym
from core.model import IncomingMessage, Reply, ReplyKind, Turn, TurnOutcome
from core.ports import ConversationStore, Next

# Stored when the inner stages raise, so an operator can find questions that got no answer.
# Its empty text never reaches a prompt: the store leaves failed turns out of the context.
UNANSWERED = Reply("", kind=ReplyKind.ERROR, outcome=TurnOutcome.FAILED)


class ContextStage:
    """Hands the provider the last ``history_limit`` messages since the last ``/reset``.

    The user's message is stored before the provider is called, so it is kept even when the
    turn fails; the reply is stored with provider, tokens, cost, latency and outcome.
    """

    def __init__(
        self,
        store: ConversationStore,
        history_limit: int,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._store = store
        self._history_limit = history_limit
        self._clock = clock

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        message = turn.message
        # History first: it must not include the message being answered.
        history = await self._store.context(message.chat, self._history_limit)
        await self._store.record_incoming(message)
        started = self._clock()
        try:
            reply = await call_next(replace(turn, history=history))
        except Exception:
            await self._record(message, UNANSWERED, started)
            raise  # the error boundary answers the user
        await self._record(message, reply, started)
        return reply

    async def _record(self, message: IncomingMessage, reply: Reply, started: float) -> None:
        latency_ms = (self._clock() - started) * 1000
        try:
            await self._store.record_reply(message, reply, latency_ms)
        except Exception as exc:
            # The user has an answer; failing to keep a copy must not turn it into an apology.
            logger.opt(exception=exc).error(
                "could not store a reply (conversation {})", pseudonym(message.chat.key)
            )
