"""An exact rate limiter: the generic cell rate algorithm (GCRA), one float of state per key.

Why GCRA rather than a token bucket with refill timers or a sliding window of timestamps:

- it is exact: with rate ``r`` and burst ``b`` a fresh key gets ``b`` requests at once and then
  exactly one every ``1/r`` seconds, and a refusal says to the instant when a retry would pass;
- the whole state of a key is one number, its *theoretical arrival time* (TAT): the moment the
  key's schedule is paid up to. A request of cost ``c`` moves it ``c/r`` seconds on, and it is
  refused when that would put the TAT more than ``b/r`` seconds ahead of now;
- nothing refills in the background: the elapsed time does the refilling when the key is next
  seen, so there are no timers and no sweeps, and an idle key costs nothing but its slot.

A key whose TAT is in the past has its whole burst back, exactly like a key never seen, so
forgetting it changes nothing. Memory is bounded by a ``BoundedCache`` of ``max_keys`` entries:
when it is full the least recently used key is forgotten. If that key still owed time, it
comes back as a fresh key with a full burst, so eviction can only make the limiter *more
lenient* for that key, never stricter for anyone. Size ``max_keys`` above the number of keys
active within one burst window and eviction only ever drops keys that were already paid up.

Not thread safe: it is meant for one event loop, where a call runs without interruption.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

from core.cache.lru import BoundedCache
from core.clock import Clock

# Float schedules drift by a few ulps after many additions (0.2 * 5 is not exactly 1.0); a
# microsecond of slack keeps "exactly on time" allowed without being a measurable leniency.
_SLACK_SECONDS = 1e-6


class Limit(StrEnum):
    """Which of admission's limits refused: only a user's own limit says they went too fast."""

    USER = "user"
    CHAT = "chat"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass, and if not, in how many seconds the same request would."""

    allowed: bool
    retry_after: float  # 0.0 when allowed
    # Set by ``AdmissionLimits`` on a refusal; a bare ``Gcra`` does not know what it limits.
    limit: Limit | None = None


ALLOWED = Decision(allowed=True, retry_after=0.0)


class Gcra:
    """Per-key GCRA limiter: ``burst`` requests at once, then ``rate_per_second`` sustained.

    ``rate_scale`` (0 < s <= 1) on a call shrinks that key's limit for the call: the emission
    interval becomes ``1 / (rate * s)`` and the burst ``burst * s``. The scaled burst never falls
    below the request's own cost, so a scale can slow a key down but never shut it out.
    Only allowed requests move the key's schedule; refused ones leave no trace.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        *,
        max_keys: int,
        clock: Clock = time.monotonic,
    ) -> None:
        if not (math.isfinite(rate_per_second) and rate_per_second > 0):
            raise ValueError("rate_per_second must be a positive finite number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._interval = 1.0 / rate_per_second
        self._burst = float(burst)
        self._clock = clock
        self._tats: BoundedCache[float] = BoundedCache(max_keys)

    def __len__(self) -> int:
        """Keys currently remembered (at most ``max_keys``)."""
        return len(self._tats)

    @property
    def evictions(self) -> int:
        """Keys forgotten because the bound was reached, for metrics."""
        return self._tats.evictions

    def check(self, key: str, *, cost: float = 1.0, rate_scale: float = 1.0) -> Decision:
        """Admit ``key`` for ``cost`` if its limit allows, consuming the allowance; else refuse."""
        retry_after, new_tat = self.plan(key, cost=cost, rate_scale=rate_scale)
        if retry_after > 0.0:
            return Decision(allowed=False, retry_after=retry_after)
        self._tats.put(key, new_tat)
        return ALLOWED

    def commit(self, key: str, tat: float) -> None:
        """Consume what an allowing ``plan`` worked out; only valid with nothing in between.

        A gate asking several limits before spending from any of them plans each, then
        commits all: the schedule is worked out once.
        """
        self._tats.put(key, tat)

    def plan(self, key: str, *, cost: float = 1.0, rate_scale: float = 1.0) -> tuple[float, float]:
        """(seconds until allowed, 0.0 if now; the key's schedule once allowed).

        Consumes nothing: ``commit`` the schedule to consume it.
        """
        if not 0.0 < rate_scale <= 1.0:
            raise ValueError("rate_scale must be in (0, 1]")
        if not 0.0 < cost <= self._burst:
            # A cost above the burst could never pass: a caller bug, not a refusal.
            raise ValueError("cost must be positive and at most the burst")
        now = self._clock()
        interval = self._interval / rate_scale
        capacity = max(self._burst * rate_scale, cost)
        stored = self._tats.get(key)
        # A TAT in the past means the key is paid up: the same as a fresh key.
        tat = stored if stored is not None and stored > now else now
        new_tat = tat + cost * interval
        wait = new_tat - capacity * interval - now
        if wait > _SLACK_SECONDS:
            return wait, new_tat
        return 0.0, new_tat
