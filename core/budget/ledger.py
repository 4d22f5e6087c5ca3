"""Running totals of what each user and the whole bot spent this UTC day and month.

Reading storage on every turn would add a query per turn; keeping every user ever seen would
grow without bound. So totals live in a bounded LRU, and a user who is not in it (after a
restart, or evicted) is read back from storage once, which keeps what the replies cost per
user and UTC day, apart from the messages and through /forget (core/storage/sqlite/spend.py).
A budget therefore never resets early because memory was lost or the user was forgotten.

Counting rule: ``add`` counts a reply in memory only, and only for totals already in memory.
The context stage stores the reply right after, so totals read from storage later include it;
counting it in memory as well would count it twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from core.budget.limits import BudgetLimits, Scope
from core.budget.periods import Period, period_start
from core.budget.source import SpendSource, Spent
from core.cache.lru import BoundedCache
from core.clock import WallClock, utc_now
from core.model import Usage, UserRef


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one user and the whole bot have spent in the periods ``at`` falls in."""

    at: datetime
    user_day: Spent
    user_month: Spent
    global_day: Spent

    def by_scope(self) -> dict[Scope, Spent]:
        return {
            Scope.USER_DAY: self.user_day,
            Scope.USER_MONTH: self.user_month,
            Scope.GLOBAL_DAY: self.global_day,
        }

    def plus(self, usage: Usage) -> Snapshot:
        """The figures once ``usage`` is counted too (one turn later)."""
        return Snapshot(
            self.at,
            self.user_day.plus(usage),
            self.user_month.plus(usage),
            self.global_day.plus(usage),
        )


@dataclass(slots=True)
class _Tally:
    """One period's running total, and whether its warning was given."""

    start: datetime
    spent: Spent
    warned: bool = False

    def roll(self, start: datetime) -> None:
        # A new period starts from nothing: its replies can only have come through ``add``.
        if start != self.start:
            self.start, self.spent, self.warned = start, Spent(), False

    def add(self, usage: Usage, start: datetime) -> None:
        self.roll(start)
        self.spent = self.spent.plus(usage)


@dataclass(slots=True)
class _UserTallies:
    day: _Tally
    month: _Tally


class BudgetLedger:
    """Spend per user (day and month) and for the bot (day), loaded once, kept bounded."""

    def __init__(
        self,
        source: SpendSource,
        limits: BudgetLimits,
        *,
        max_users: int = 100_000,
        clock: WallClock = utc_now,
    ) -> None:
        self._source = source
        self._limits = limits
        self._clock = clock
        self._users: BoundedCache[_UserTallies] = BoundedCache(max_users)
        # Only users being read right now: two first turns of one user share one read.
        self._loading: dict[str, asyncio.Lock] = {}
        self._global: _Tally | None = None
        self._global_lock = asyncio.Lock()
        self.loads = 0  # reads from storage, for metrics

    def __len__(self) -> int:
        return len(self._users)

    @property
    def evictions(self) -> int:
        return self._users.evictions

    @property
    def limits(self) -> BudgetLimits:
        return self._limits

    async def snapshot(self, user: UserRef) -> Snapshot:
        """The user's and the bot's spend now; reads storage for totals not in memory."""
        now = self._clock()
        day, month = period_start(Period.DAY, now), period_start(Period.MONTH, now)
        everyone = await self._global_tally(day)
        theirs = await self._user_tallies(user, day, month)
        everyone.roll(day)
        theirs.day.roll(day)
        theirs.month.roll(month)
        return Snapshot(now, theirs.day.spent, theirs.month.spent, everyone.spent)

    def add(self, user: UserRef, usage: Usage) -> None:
        """Count what a reply to ``user`` cost (see the counting rule above)."""
        if usage.is_free:
            return
        now = self._clock()
        day, month = period_start(Period.DAY, now), period_start(Period.MONTH, now)
        if self._global is not None:
            self._global.add(usage, day)
        theirs = self._users.get(user.key)
        if theirs is not None:
            theirs.day.add(usage, day)
            theirs.month.add(usage, month)

    def first_warning(self, scope: Scope, user: UserRef) -> bool:
        """True the first time it is asked about ``scope`` in its period (``user`` for theirs).

        False when the totals are not in memory: better one warning missed than a repeat.
        """
        tally = self._tally(scope, user)
        if tally is None:
            return False
        tally.roll(period_start(scope.period, self._clock()))
        first, tally.warned = not tally.warned, True
        return first

    def _tally(self, scope: Scope, user: UserRef) -> _Tally | None:
        if scope is Scope.GLOBAL_DAY:
            return self._global
        theirs = self._users.get(user.key)
        if theirs is None:
            return None
        return theirs.day if scope is Scope.USER_DAY else theirs.month

    async def _user_tallies(self, user: UserRef, day: datetime, month: datetime) -> _UserTallies:
        key = user.key
        theirs = self._users.get(key)
        if theirs is not None:
            return theirs
        lock = self._loading.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                # Whoever waited on the lock finds what the first reader loaded.
                theirs = self._users.get(key)
                if theirs is None:
                    spent_day, spent_month = await self._source.user_spend(user, day, month)
                    self.loads += 1
                    theirs = self._users.get(key)  # loaded meanwhile without this lock: keep it
                    if theirs is None:
                        theirs = _UserTallies(
                            self._seeded(Scope.USER_DAY, day, spent_day),
                            self._seeded(Scope.USER_MONTH, month, spent_month),
                        )
                        self._users.put(key, theirs)
        finally:
            # Done or failed: later turns find the totals in memory (or read afresh).
            if self._loading.get(key) is lock:
                del self._loading[key]
        return theirs

    async def _global_tally(self, day: datetime) -> _Tally:
        if self._global is None:
            async with self._global_lock:
                if self._global is None:
                    spent = await self._source.global_spend(day)
                    self.loads += 1
                    self._global = self._seeded(Scope.GLOBAL_DAY, day, spent)
        return self._global

    def _seeded(self, scope: Scope, start: datetime, spent: Spent) -> _Tally:
        # Already past the warn fraction when read back: the warning was given before the
        # restart (or eviction), and saying it again on every restart would be noise.
        warned = self._limits.used(scope, spent) >= self._limits.warn_fraction
        return _Tally(start, spent, warned)
