"""The ledger: totals read from storage once, counted in memory, rolled over by the clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from core.budget import BudgetLedger, BudgetLimits, Scope, Spent
from core.model import Usage, UserRef

ALICE = UserRef("test", "alice")
BOB = UserRef("test", "bob")
LIMITS = BudgetLimits(user_daily_tokens=1000, user_monthly_tokens=10_000, warn_fraction=0.8)
TURN = Usage(input_tokens=100, output_tokens=50, cost_usd=0.002)


class Clock:
    """A settable UTC clock: periods roll over when the test says, never by waiting."""

    def __init__(self, now: str = "2025-06-10T12:00:00+00:00") -> None:
        self.now = datetime.fromisoformat(now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Stored:
    """A ``SpendSource`` over replies kept in a list, as a store would sum its rows."""

    replies: list[tuple[str, datetime, Usage]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set, every read waits for it
    failures: int = 0  # the next reads that raise

    def store(self, user: UserRef, at: datetime, usage: Usage) -> None:
        self.replies.append((user.key, at, usage))

    async def user_spend(
        self, user: UserRef, day_start: datetime, month_start: datetime
    ) -> tuple[Spent, Spent]:
        await self._read(user.key)
        return (
            self._sum(lambda key, at: key == user.key and at >= day_start),
            self._sum(lambda key, at: key == user.key and at >= month_start),
        )

    async def global_spend(self, day_start: datetime) -> Spent:
        await self._read("*")
        return self._sum(lambda key, at: at >= day_start)

    async def _read(self, what: str) -> None:
        self.reads.append(what)
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("disk I/O error")

    def _sum(self, wanted: object) -> Spent:
        total = Spent()
        for key, at, usage in self.replies:
            if wanted(key, at):  # type: ignore[operator]
                total = total.plus(usage)
        return total


def ledger(stored: Stored, clock: Clock, max_users: int = 100) -> BudgetLedger:
    return BudgetLedger(stored, LIMITS, max_users=max_users, clock=clock)


async def test_a_users_spend_is_read_from_storage_once_then_counted_in_memory() -> None:
    clock, stored = Clock(), Stored()
    stored.store(ALICE, clock.now - timedelta(hours=1), Usage(300, 100, 0.01))  # today
    stored.store(ALICE, clock.now - timedelta(days=5), Usage(1000, 0, 0.02))  # this month
    stored.store(BOB, clock.now - timedelta(hours=2), Usage(50, 50, 0.005))
    books = ledger(stored, clock)

    first = await books.snapshot(ALICE)
    assert (first.user_day, first.user_month) == (Spent(400, 0.01), Spent(1400, 0.03))
    assert first.global_day == Spent(500, 0.015)

    books.add(ALICE, TURN)
    second = await books.snapshot(ALICE)
    assert (second.user_day, second.user_month) == (Spent(550, 0.012), Spent(1550, 0.032))
    assert second.global_day == Spent(650, 0.017)
    assert sorted(stored.reads) == ["*", ALICE.key]  # one read each, none per turn


@pytest.mark.parametrize(
    ("before_midnight", "month_after"),
    [
        ("2025-06-10T23:59:00+00:00", Spent(300, 0.004)),  # the month keeps counting
        ("2025-06-30T23:59:00+00:00", Spent(150, 0.002)),  # the first of July starts afresh
    ],
)
async def test_periods_start_afresh_at_midnight_utc(
    before_midnight: str, month_after: Spent
) -> None:
    clock, stored = Clock(before_midnight), Stored()
    books = ledger(stored, clock)
    await books.snapshot(ALICE)
    books.add(ALICE, TURN)

    clock.advance(minutes=2)
    books.add(ALICE, TURN)  # the first reply after midnight
    after = await books.snapshot(ALICE)
    assert (after.user_day, after.user_month) == (Spent(150, 0.002), month_after)
    assert after.global_day == Spent(150, 0.002)
    assert len(stored.reads) == 2  # a new period needs no read: nothing in it was missed


async def test_two_first_turns_of_one_user_read_storage_once_and_count_both_replies() -> None:
    clock, stored = Clock(), Stored()
    stored.store(ALICE, clock.now, Usage(200, 0, 0.0))
    books = ledger(stored, clock)
    await books.snapshot(BOB)  # the bot's day is in memory: only Alice's read is left
    stored.gate = gate = asyncio.Event()

    both = asyncio.gather(books.snapshot(ALICE), books.snapshot(ALICE))
    for _ in range(5):  # let both turns get as far as they can: the read, or waiting on it
        await asyncio.sleep(0)
    gate.set()
    first, second = await both
    assert first.user_day == second.user_day == Spent(200, 0.0)
    assert stored.reads.count(ALICE.key) == 1

    books.add(ALICE, TURN)  # each turn counts its own reply
    books.add(ALICE, TURN)
    assert (await books.snapshot(ALICE)).user_day == Spent(500, 0.004)


async def test_memory_is_bounded_and_an_evicted_user_is_read_back_not_reset() -> None:
    clock, stored = Clock(), Stored()
    books = ledger(stored, clock, max_users=2)
    await books.snapshot(ALICE)
    books.add(ALICE, TURN)
    stored.store(ALICE, clock.now, TURN)  # the context stage stores the reply after the count

    for n in range(5):
        await books.snapshot(UserRef("test", f"someone-{n}"))
    assert len(books) == 2 and books.evictions == 4

    again = await books.snapshot(ALICE)
    assert again.user_day == Spent(150, 0.002)  # from storage, counted once
    assert stored.reads.count(ALICE.key) == 2


async def test_a_reply_for_a_user_not_in_memory_is_left_to_storage() -> None:
    clock, stored = Clock(), Stored()
    books = ledger(stored, clock)
    books.add(BOB, TURN)  # e.g. evicted during the turn; the store gets the reply next
    stored.store(BOB, clock.now, TURN)
    assert (await books.snapshot(BOB)).user_day == Spent(150, 0.002)


async def test_a_failed_read_fails_that_turn_only() -> None:
    clock, stored = Clock(), Stored(failures=1)
    books = ledger(stored, clock)
    with pytest.raises(OSError):
        await books.snapshot(ALICE)
    assert (await books.snapshot(ALICE)).user_day == Spent()


async def test_a_warning_is_due_once_per_allowance_per_period() -> None:
    clock, stored = Clock(), Stored()
    books = ledger(stored, clock)
    await books.snapshot(ALICE)
    assert books.first_warning(Scope.USER_DAY, ALICE)
    assert not books.first_warning(Scope.USER_DAY, ALICE)
    assert books.first_warning(Scope.USER_MONTH, ALICE)  # its own allowance
    assert books.first_warning(Scope.USER_DAY, BOB) is False  # not in memory: no repeat risk

    clock.advance(days=1)
    assert books.first_warning(Scope.USER_DAY, ALICE)  # a new day, a new allowance
    assert not books.first_warning(Scope.USER_MONTH, ALICE)


async def test_a_user_read_back_past_the_warn_fraction_is_not_warned_again() -> None:
    clock, stored = Clock(), Stored()
    stored.store(ALICE, clock.now, Usage(850, 0))  # warned before the restart
    books = ledger(stored, clock)
    await books.snapshot(ALICE)
    assert not books.first_warning(Scope.USER_DAY, ALICE)


async def test_the_clock_decides_the_period_not_the_time_of_the_read() -> None:
    clock, stored = Clock("2025-06-10T23:59:59+00:00"), Stored()
    stored.store(ALICE, datetime(2025, 6, 10, 9, tzinfo=UTC), Usage(300, 0))
    books = ledger(stored, clock)
    assert (await books.snapshot(ALICE)).user_day == Spent(300, 0.0)
    clock.advance(seconds=2)
    assert (await books.snapshot(ALICE)).user_day == Spent()
