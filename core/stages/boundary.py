"""The outermost stage: every turn is timed and counted, and none ends in silence."""

from __future__ import annotations

import time
from collections.abc import Callable

from loguru import logger

from core.logref import pseudonym
from core.model import Reply, ReplyKind, Turn, TurnOutcome
from core.ports import Next, TurnMetrics

APOLOGY = "Sorry, something went wrong on our side while answering. Please try again in a moment."


class ErrorBoundary:
    """Turns any exception from the inner stages into an apology, logged and counted."""

    def __init__(
        self, metrics: TurnMetrics, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._metrics = metrics
        self._clock = clock

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        started = self._clock()
        try:
            reply = await call_next(turn)
        except Exception as exc:  # the boundary's whole purpose; CancelledError is not caught
            # Only a pseudonym: message text, user ids and client-chosen ids are personal data.
            logger.opt(exception=exc).error(
                "turn failed: {} (conversation {})",
                type(exc).__name__,
                pseudonym(turn.conversation_key),
            )
            self._metrics.turn_crashed(type(exc).__name__)
            reply = Reply(APOLOGY, kind=ReplyKind.ERROR, outcome=TurnOutcome.FAILED)
        self._metrics.turn_finished(reply, self._clock() - started)
        return reply
