"""Admission: refuse a message before it costs anything when its sender goes too fast.

Runs in ``Gateway.submit`` before the conversation's lane, so a flooding user never queues work
that would delay others. The refusal is a ``Reply`` with ``retry_after``; only the first refusal
of a window speaks, the rest are silent, so a flood does not become a flood of replies.
"""

from __future__ import annotations

import math

from core.model import IncomingMessage, Reply, ReplyKind, TurnOutcome
from core.ratelimit.adaptive import AdmissionLimits, SlowDownNotices


def slow_down_text(retry_after: float) -> str:
    seconds = max(1, math.ceil(retry_after))
    wait = f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"
    return f"You're sending messages faster than I can answer. Please try again in {wait}."


class Admission:
    """Per-user, per-chat and global limits, and one polite notice per window."""

    def __init__(self, limits: AdmissionLimits, notices: SlowDownNotices) -> None:
        self._limits = limits
        self._notices = notices
        self.refused = 0

    def refuse(self, message: IncomingMessage) -> Reply | None:
        """A refusal reply when the message must wait, or None to let it in."""
        decision = self._limits.check(message.user.key, message.chat.key)
        if decision.allowed:
            return None
        self.refused += 1
        return Reply(
            slow_down_text(decision.retry_after),
            kind=ReplyKind.NOTICE,
            outcome=TurnOutcome.RATE_LIMITED,
            retry_after=decision.retry_after,
            silent=not self._notices.should_notify(message.user.key),
        )
