"""Spend read back from SQLite's ``spend`` aggregate: neither a restart nor /forget resets it."""

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
ALICE = UserRef("test", "alice")


async def secret(store: SqliteStore) -> bytes:
    async with store.db.execute("SELECT value FROM meta WHERE key = 'spend_secret'") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return bytes.fromhex(str(row[0]))


async def spent_at(store: SqliteStore, user: str, usage: Usage, at: datetime) -> None:
    """A reply's cost counted at a chosen instant, as ``record_reply`` counts it at its own."""
    ref = sql_spend.user_ref(await secret(store), UserRef("test", user))
    await sql_spend.add(store.db, ref, usage, at)


async def exchange(store: SqliteStore, user: str, usage: Usage) -> None:
    """One question and its reply, stored as the context stage stores them (wall clock)."""
    asked = message("how much is shipping?", user=user)
    await store.record_incoming(asked)
    await store.record_reply(asked, Reply("it is free", usage=usage), latency_ms=5.0)


async def test_a_users_day_and_month_are_summed_from_their_rows_only(store: SqliteStore) -> None:
    await spent_at(store, "alice", Usage(300, 100, 0.01), NOW - timedelta(hours=2))
    await spent_at(store, "alice", Usage(700, 200, 0.03), DAY - timedelta(microseconds=1))
    await spent_at(store, "alice", Usage(10_000, 0, 9.0), MONTH - timedelta(seconds=1))
    await spent_at(store, "bob", Usage(50, 50, 0.5), NOW)

    day, month = await sql_spend.user_spend(store.db, ALICE, DAY, MONTH)
    assert day == Spent(400, 0.01)  # the reply a microsecond before midnight is yesterday's
    assert month == Spent(1300, 0.04)  # May's reply is not June's
    assert await sql_spend.user_spend(store.db, UserRef("test", "carol"), DAY, MONTH) == (
        Spent(),
        Spent(),
    )


async def test_days_are_utc_dates_whatever_the_offset_of_the_instant(store: SqliteStore) -> None:
    await spent_at(store, "alice", Usage(1, 1, 0.001), DAY)  # exactly midnight: the new day
    # 21:30 in New York on the 9th is 01:30 UTC on the 10th.
    new_york = datetime.fromisoformat("2025-06-09T21:30:00-04:00")
    await spent_at(store, "alice", Usage(10, 0, 0.0), new_york)
    # 00:30 in Paris on the 10th is still the 9th in UTC.
    paris = datetime.fromisoformat("2025-06-10T00:30:00+02:00")
    await spent_at(store, "alice", Usage(100, 0, 0.0), paris)

    day, month = await sql_spend.user_spend(store.db, ALICE, DAY, MONTH)
    assert day == Spent(12, 0.001)
    assert month == Spent(112, 0.001)
    assert sql_spend.utc_day(paris) == "2025-06-09"


async def test_the_bots_day_sums_every_users_rows_and_uses_the_day_index(
    store: SqliteStore,
) -> None:
    await spent_at(store, "alice", Usage(300, 100, 0.01), NOW)
    await spent_at(store, "bob", Usage(50, 50, 0.5), NOW - timedelta(hours=1))
    await spent_at(store, "carol", Usage(1, 1, 7.0), DAY - timedelta(hours=1))
    assert await sql_spend.global_spend(store.db, DAY) == Spent(500, 0.51)

    async with store.db.execute(
        "EXPLAIN QUERY PLAN SELECT SUM(tokens), SUM(cost_usd) FROM spend WHERE day >= ?",
        (sql_spend.utc_day(DAY),),
    ) as cursor:
        plan = " ".join(str(row[-1]) for row in await cursor.fetchall())
    assert "spend_by_day" in plan


async def test_record_reply_counts_on_the_utc_day_it_stores_the_reply(store: SqliteStore) -> None:
    before = datetime.now(UTC)
    await exchange(store, "alice", Usage(30, 10, 0.002))
    await exchange(store, "alice", Usage(5, 5, 0.001))
    after = datetime.now(UTC)

    rows = list(await store.db.execute_fetchall("SELECT day, tokens, cost_usd FROM spend"))
    assert len(rows) == 1
    assert rows[0][0] in {sql_spend.utc_day(before), sql_spend.utc_day(after)}
    assert (rows[0][1], round(rows[0][2], 8)) == (50, 0.003)


async def test_a_new_ledger_after_a_restart_starts_from_what_was_stored(
    store: SqliteStore,
) -> None:
    now = datetime.now(UTC)
    limits = BudgetLimits(user_daily_tokens=1000)
    before = BudgetLedger(store, limits, clock=lambda: now)
    await before.snapshot(ALICE)
    usage = Usage(600, 200, 0.02)
    before.add(ALICE, usage)
    await exchange(store, "alice", usage)

    restarted = BudgetLedger(store, limits, clock=lambda: now)
    snapshot = await restarted.snapshot(ALICE)
    assert snapshot.user_day == (await before.snapshot(ALICE)).user_day == Spent(800, 0.02)
    assert snapshot.global_day == Spent(800, 0.02)


async def test_forget_does_not_give_a_spent_allowance_back(store: SqliteStore) -> None:
    now = datetime.now(UTC)
    limits = BudgetLimits(user_daily_tokens=1000)
    await exchange(store, "alice", Usage(600, 200, 0.02))
    await exchange(store, "bob", Usage(50, 50, 0.5))

    assert await store.forget_user(ALICE) == 2
    assert await store.history(message("", user="alice").chat) == ()

    restarted = BudgetLedger(store, limits, clock=lambda: now)
    snapshot = await restarted.snapshot(ALICE)
    assert snapshot.user_day == snapshot.user_month == Spent(800, 0.02)
    assert snapshot.global_day == Spent(900, 0.52)  # the bot's day keeps her share too
