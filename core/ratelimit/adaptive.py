"""Admission limits per user, per chat and global, with the user's limit shrinking with risk.

The user limit is scaled by ``risk_scale(risk)``: 1 for a user with no risk, falling as the
risk grows (``1 / (1 + risk)``) but never below ``min_scale``, so a risk score alone slows a
user down and never silences them; only an admin block does that, and it is checked before
this gate. As ``RiskLedger`` decays the risk, the scale and so the limit come back.

``SlowDownNotices`` keeps a refused user's "slow down" replies to one per window, so a flood
does not turn into a flood of replies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from core.cache.lru import BoundedCache
from core.clock import Clock
from core.ratelimit.gcra import ALLOWED, Decision, Gcra, Limit

# A decayed risk halves forever and never reaches zero, yet any scale below 1 takes a whole
# message off a burst. Under 1% of the limit, it counts as gone.
NEGLIGIBLE_RISK = 0.01


def risk_scale(risk: float, min_scale: float) -> float:
    """The share of the base user limit left at ``risk``: 1 at zero, ``min_scale`` at worst.

    A negative or NaN risk (a bug upstream) counts as no risk; infinity counts as the worst.
    """
    if not risk >= NEGLIGIBLE_RISK:
        return 1.0
    return max(min_scale, 1.0 / (1.0 + risk))


class AdmissionLimits:
    """Admits a message only when its user, its chat and the whole bot are all within limits.

    Limits are checked in that order (the cheapest refusal for a flooding user comes first),
    and allowance is consumed from all three only when all three allow: a message refused by
    the chat or global limit costs the user nothing. A refusal's ``retry_after`` is when the
    first refusing limit would allow, a lower bound when a later limit is also tight; its
    ``limit`` names that limit.
    """

    def __init__(
        self,
        per_user: Gcra,
        per_chat: Gcra,
        global_: Gcra,
        risk: Callable[[str], float],
        *,
        min_scale: float = 0.2,
    ) -> None:
        if not 0.0 < min_scale <= 1.0:
            raise ValueError("min_scale must be in (0, 1]")
        self._user = per_user
        self._chat = per_chat
        self._global = global_
        self._risk = risk
        self._min_scale = min_scale

    def check(self, user_key: str, chat_key: str) -> Decision:
        """Admit one message from ``user_key`` in ``chat_key``, or say when to retry."""
        scale = risk_scale(self._risk(user_key), self._min_scale)
        wait, user_tat = self._user.plan(user_key, rate_scale=scale)
        if wait > 0.0:
            return Decision(False, wait, Limit.USER)
        wait, chat_tat = self._chat.plan(chat_key)
        if wait > 0.0:
            return Decision(False, wait, Limit.CHAT)
        wait, global_tat = self._global.plan("*")
        if wait > 0.0:
            return Decision(False, wait, Limit.GLOBAL)
        # All three allow, and nothing ran since they were asked (no await, one thread): the
        # plans still hold, and committing them is what consumes the allowance.
        self._user.commit(user_key, user_tat)
        self._chat.commit(chat_key, chat_tat)
        self._global.commit("*", global_tat)
        return ALLOWED


class SlowDownNotices:
    """At most one "slow down" notice per user per ``window_seconds``.

    Bounded to ``max_keys`` users (least recently notified forgotten); a forgotten user may
    get their next notice before the window is out, which costs one extra reply, not a flood.
    """

    def __init__(
        self, window_seconds: float, max_keys: int, clock: Clock = time.monotonic
    ) -> None:
        if not (math.isfinite(window_seconds) and window_seconds > 0):
            raise ValueError("window_seconds must be a positive finite number")
        self._window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._last: BoundedCache[float] = BoundedCache(max_keys)

    def __len__(self) -> int:
        return len(self._last)

    def fresh(self) -> SlowDownNotices:
        """An empty counter with the same window, bound and clock, for another kind of notice."""
        return SlowDownNotices(self._window, self._max_keys, self._clock)

    def should_notify(self, user_key: str) -> bool:
        """True (and remembered) if ``user_key`` has had no notice in the current window."""
        now = self._clock()
        last = self._last.get(user_key)
        if last is not None and now - last < self._window:
            return False
        self._last.put(user_key, now)
        return True
