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
from core.errors import DeliveryError
from core.ratelimit.gcra import Gcra

# Chats whose schedule is remembered; an idle chat's schedule is paid up, so forgetting the
# least recently used ones changes nothing for them.
MAX_CHATS = 100_000


@dataclass(frozen=True, slots=True)
class Rate:
    """``burst`` messages at once, then ``per_second`` sustained."""

    per_second: float
    burst: int


class WaitTooLong(DeliveryError):
    """The message would wait longer than the caller holds a worker; ``retry_after`` says how
    long, and the core sends it again then instead."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the chat's send limit asks to wait {seconds:.0f} s", retry_after=seconds
        )


class Pacer:
    """Waits until a message may go to a chat under every limit that applies to it.

    Every chat has ``per_chat``; a group also has ``per_group`` (Telegram's groups have a
    stricter limit as well); ``overall`` is for platforms that publish one for the whole bot.
    With GCRA, any window of ``w`` seconds holds at most ``burst + per_second * w`` messages:
    choose both so that this stays within the platform's limit for its window.
    """

    def __init__(
        self,
        per_chat: Rate,
        *,
        per_group: Rate | None = None,
        overall: Rate | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        def limiter(rate: Rate, keys: int) -> Gcra:
            return Gcra(rate.per_second, rate.burst, max_keys=keys, clock=clock)

        self._chats = limiter(per_chat, MAX_CHATS)
        self._groups = limiter(per_group, MAX_CHATS) if per_group else None
        self._overall = limiter(overall, 1) if overall else None
        self._sleep = sleep

    async def wait(
        self, chat: str, *, group: bool = False, max_wait: float = float("inf")
    ) -> float:
        """Return once a message to ``chat`` may be sent, counted; the seconds waited.

        Raises ``WaitTooLong`` instead of waiting more than ``max_wait`` in all: a worker is
        not held for a busy group while other chats wait for workers.
        """
        limits = [(self._chats, chat)]
        if group and self._groups is not None:
            limits.append((self._groups, chat))
        if self._overall is not None:
            limits.append((self._overall, ""))
        waited = 0.0
        while True:
            # Every limit is planned before any is used, so a wait costs no allowance.
            plans = [(limiter, key, *limiter.plan(key)) for limiter, key in limits]
            wait = max(seconds for _, _, seconds, _ in plans)
            if wait <= 0:
                for limiter, key, _, schedule in plans:
                    limiter.commit(key, schedule)
                return waited
            if waited + wait > max_wait:
                raise WaitTooLong(wait)
            await self._sleep(wait)
            waited += wait
