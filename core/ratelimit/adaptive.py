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
from core.ratelimit.gcra import ALLOWED, Clock, Decision, Gcra


def risk_scale(risk: float, min_scale: float) -> float:
    """The share of the base user limit left at ``risk``: 1 at zero, ``min_scale`` at worst.

    A negative or NaN risk (a bug upstream) counts as no risk; infinity counts as the worst.
    """
    if not risk > 0.0:
        return 1.0
    return max(min_scale, 1.0 / (1.0 + risk))


class AdmissionLimits:
    """Admits a message only when its user, its chat and the whole bot are all within limits.

    Limits are checked in that order (the cheapest refusal for a flooding user comes first),
    and allowance is consumed from all three only when all three allow: a message refused by
    the chat or global limit costs the user nothing. A refusal's ``retry_after`` is when the
    first refusing limit would allow, a lower bound when a later limit is also tight.
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
        decision = self._user.peek(user_key, rate_scale=scale)
        if not decision.allowed:
            return decision
        decision = self._chat.peek(chat_key)
        if not decision.allowed:
            return decision
        # The global limit is the last to be asked, so it can consume directly: if it refuses,
        # nothing has been consumed yet anywhere.
        decision = self._global.check("*")
        if not decision.allowed:
            return decision
        # Nothing ran between the peeks and here (no await, one thread) and time only moves
        # on, so both of these allow; they are what consumes the allowance.
        self._user.check(user_key, rate_scale=scale)
        self._chat.check(chat_key)
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
        self._clock = clock
        self._last: BoundedCache[float] = BoundedCache(max_keys)

    def __len__(self) -> int:
        return len(self._last)

    def should_notify(self, user_key: str) -> bool:
        """True (and remembered) if ``user_key`` has had no notice in the current window."""
        now = self._clock()
        last = self._last.get(user_key)
        if last is not None and now - last < self._window:
            return False
        self._last.put(user_key, now)
        return True
