"""Admission: refuse a message before it costs anything when its sender is blocked or too fast.

Runs in ``Gateway.submit`` before the conversation's lane, so a flooding user never queues work
that would delay others. A blocked user is refused first, before any limit is asked or spent.
Both refusals are notice replies; only the first of a window speaks, the rest are silent, so a
flood does not become a flood of replies.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Protocol

from loguru import logger

from core.logref import pseudonym
from core.model import IncomingMessage, Reply, ReplyKind, TurnOutcome
from core.ratelimit.adaptive import AdmissionLimits, SlowDownNotices
from core.ratelimit.gcra import Limit
from core.ratelimit.risk import BURST_RISK, RiskRecorder

BLOCKED_TEXT = (
    "You can't use this bot right now. If you think this is a mistake, please contact the team."
)
# Built once: a reply is immutable, and a blocked flood should cost as little as possible.
# No retry_after: waiting does not help, and HTTP must not answer "429, retry in n s".
_BLOCKED = Reply(BLOCKED_TEXT, kind=ReplyKind.NOTICE, outcome=TurnOutcome.BLOCKED)
_BLOCKED_SILENT = replace(_BLOCKED, silent=True)


def slow_down_text(retry_after: float) -> str:
    seconds = max(1, math.ceil(retry_after))
    wait = f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"
    return f"You're sending messages faster than I can answer. Please try again in {wait}."


class BlockCheck(Protocol):
    """What admission asks about blocks (``core.blocks.BlockList`` answers it from memory)."""

    def is_blocked(self, user_key: str) -> bool: ...


class Admission:
    """Blocks first, then per-user, per-chat and global limits; one notice per window.

    ``blocks`` is optional (no block list, nobody is blocked); blocked users' notices are
    counted apart from slow-down notices (in an empty twin of ``notices``), so being told
    "slow down" does not silence "you are blocked" or the reverse.
    With ``risk`` (the ``RiskLedger``), a user refused by their own limit gains ``BURST_RISK``
    once per notice window.
    """

    def __init__(
        self,
        limits: AdmissionLimits,
        notices: SlowDownNotices,
        *,
        blocks: BlockCheck | None = None,
        risk: RiskRecorder | None = None,
    ) -> None:
        self._limits = limits
        self._notices = notices
        self._blocks = blocks
        self._blocked_notices = notices.fresh()
        self._risk = risk
        self.refused = 0  # by a rate limit
        self.blocked = 0  # because the user is blocked

    def refuse(self, message: IncomingMessage) -> Reply | None:
        """A refusal reply when the message must not go on, or None to let it in."""
        user_key = message.user.key
        if self._blocks is not None and self._blocks.is_blocked(user_key):
            self.blocked += 1
            return _BLOCKED if self._blocked_notices.should_notify(user_key) else _BLOCKED_SILENT
        decision = self._limits.check(user_key, message.chat.key)
        if decision.allowed:
            return None
        self.refused += 1
        notify = self._notices.should_notify(user_key)
        if notify and decision.limit is Limit.USER and self._risk is not None:
            # Once per window (with the notice), not per refused message; a busy chat or
            # the global limit refusing is not this user's burst.
            risk = self._risk.record(user_key, BURST_RISK)
            logger.info("user {} refused for a burst (risk {:.2f})", pseudonym(user_key), risk)
        return Reply(
            slow_down_text(decision.retry_after),
            kind=ReplyKind.NOTICE,
            outcome=TurnOutcome.RATE_LIMITED,
            retry_after=decision.retry_after,
            silent=not notify,
        )
