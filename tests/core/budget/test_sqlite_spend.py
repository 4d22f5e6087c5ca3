"""Spend read back from SQLite: real stored replies, so a restart never resets a budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.budget import BudgetLedger, BudgetLimits, Spent
from core.model import Reply, Usage, UserRef
from core.storage.sqlite import SqliteStore
from core.storage.sqlite import spend as sql_spend
from tests.fakes import message

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
DAY = datetime(2025, 6, 10, tzinfo=UTC)
MONTH = datetime(2025, 6, 1, tzinfo=UTC)


class StoreSpend:
    """The ``SpendSource`` the runtime gets from ``SqliteStore``, over an opened store."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def user_spend(
        self, user: UserRef, day_start: datetime, month_start: datetime
    ) -> tuple[Spent, Spent]:
        return await sql_spend.user_spend(self._store.db, user, day_start, month_start)

    async def global_spend(self, day_start: datetime) -> Spent:
        return await sql_spend.global_spend(self._store.db, day_start)


async def exchange(store: SqliteStore, user: str, usage: Usage, at: datetime) -> None:
    """One question and its reply, stored as the context stage stores them, replied at ``at``."""
    asked = message("how much is shipping?", user=user)
    await store.record_incoming(asked)
    reply_id = await store.record_reply(asked, Reply("it is free", usage=usage), latency_ms=5.0)
    # record_reply stamps the wall clock; the budgets' periods need chosen instants.
    await store.db.execute(
        "UPDATE messages SET created_at = ? WHERE id = ?", (at.isoformat(), reply_id)
    )


async def test_a_users_day_and_month_are_summed_from_their_replies_only(
    store: SqliteStore,
) -> None:
    await exchange(store, "alice", Usage(300, 100, 0.01), NOW - timedelta(hours=2))
    await exchange(store, "alice", Usage(700, 200, 0.03), DAY - timedelta(microseconds=1))
    await exchange(store, "alice", Usage(10_000, 0, 9.0), MONTH - timedelta(seconds=1))
    await exchange(store, "bob", Usage(50, 50, 0.5), NOW)

    day, month = await sql_spend.user_spend(store.db, UserRef("test", "alice"), DAY, MONTH)
    assert day == Spent(400, 0.01)  # the reply a microsecond before midnight is yesterday's
    assert month == Spent(1300, 0.04)  # May's reply is not June's
    assert await sql_spend.user_spend(store.db, UserRef("test", "carol"), DAY, MONTH) == (
        Spent(),
        Spent(),
    )


async def test_a_reply_stamped_exactly_at_midnight_counts_for_the_new_day(
    store: SqliteStore,
) -> None:
    await exchange(store, "alice", Usage(1, 1, 0.001), DAY)
    day, _ = await sql_spend.user_spend(store.db, UserRef("test", "alice"), DAY, MONTH)
    assert day == Spent(2, 0.001)


async def test_the_bots_day_sums_every_users_replies_and_uses_the_replies_index(
    store: SqliteStore,
) -> None:
    await exchange(store, "alice", Usage(300, 100, 0.01), NOW)
    await exchange(store, "bob", Usage(50, 50, 0.5), NOW - timedelta(hours=1))
    await exchange(store, "carol", Usage(1, 1, 7.0), DAY - timedelta(hours=1))
    assert await sql_spend.global_spend(store.db, DAY) == Spent(500, 0.51)

    async with store.db.execute(
        """EXPLAIN QUERY PLAN SELECT SUM(cost_usd) FROM messages
           WHERE direction = 'out' AND created_at >= ?""",
        (DAY.isoformat(),),
    ) as cursor:
        plan = " ".join(str(row[-1]) for row in await cursor.fetchall())
    assert "messages_replies_by_time" in plan


async def test_a_new_ledger_after_a_restart_starts_from_what_was_stored(
    store: SqliteStore,
) -> None:
    limits = BudgetLimits(user_daily_tokens=1000)
    before = BudgetLedger(StoreSpend(store), limits, clock=lambda: NOW)
    alice = UserRef("test", "alice")
    await before.snapshot(alice)
    usage = Usage(600, 200, 0.02)
    before.add(alice, usage)
    await exchange(store, "alice", usage, NOW)

    restarted = BudgetLedger(StoreSpend(store), limits, clock=lambda: NOW + timedelta(minutes=1))
    snapshot = await restarted.snapshot(alice)
    assert snapshot.user_day == (await before.snapshot(alice)).user_day == Spent(800, 0.02)
    assert snapshot.global_day == Spent(800, 0.02)
