"""Loads the conversation's recent history for the provider and records the exchange."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from core.model import Reply, Turn
from core.ports import ConversationStore, Next


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
        reply = await call_next(replace(turn, history=history))
        latency_ms = (self._clock() - started) * 1000
        await self._store.record_reply(message, reply, latency_ms)
        return reply
