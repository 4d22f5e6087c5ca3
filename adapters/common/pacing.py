"""Spacing outgoing messages so a platform's published limits are kept, not discovered by 429s.

A 429 costs more than the wait it asks for: the message is late by the whole penalty, and
platforms lengthen penalties for clients that keep hitting them. So a send first waits its
turn under every limit that applies to it (the whole bot, and its chat), computed exactly with
GCRA (``core/ratelimit/gcra.py``): a burst goes out at once, the rest at the sustained rate.
The 429 handling stays behind this as the backstop for limits nobody publishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.clock import Clock
from core.ratelimit.gcra import Gcra

# Chats whose schedule is remembered; an idle chat's schedule is paid up, so forgetting the
# least recently used ones changes nothing for them.
MAX_CHATS = 100_000


@dataclass(frozen=True, slots=True)
class Rate:
    """``burst`` messages at once, then ``per_second`` sustained."""

    per_second: float
    burst: int


class Pacer:
    """Waits until a message may go to a chat under the overall and the per-chat limits."""

    def __init__(
        self,
        overall: Rate,
        *,
        per_chat: Rate,
        per_group: Rate,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._overall = Gcra(overall.per_second, overall.burst, max_keys=1, clock=clock)
        self._chats = Gcra(per_chat.per_second, per_chat.burst, max_keys=MAX_CHATS, clock=clock)
        self._groups = Gcra(per_group.per_second, per_group.burst, max_keys=MAX_CHATS, clock=clock)
        self._sleep = sleep

    async def wait(self, chat: str, *, group: bool) -> float:
        """Return once a message to ``chat`` may be sent, counted; the seconds waited."""
        waited = 0.0
        chats = self._groups if group else self._chats
        while True:
            # Both limits are planned before either is used, so a wait costs no allowance.
            overall_wait, overall_tat = self._overall.plan("")
            chat_wait, chat_tat = chats.plan(chat)
            wait = max(overall_wait, chat_wait)
            if wait <= 0:
                self._overall.commit("", overall_tat)
                chats.commit(chat, chat_tat)
                return waited
            await self._sleep(wait)
            waited += wait
