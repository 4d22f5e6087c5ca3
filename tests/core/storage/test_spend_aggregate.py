"""The ``spend`` aggregate (migration 7): per user and UTC day, no text, no id, kept by /forget."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.budget import Spent
from core.model import Reply, Usage, UserRef
from core.storage.sqlite import SqliteStore
from core.storage.sqlite import spend as sql_spend
from core.storage.sqlite.migrations import MIGRATIONS
from tests.fakes import message

# Distinctive enough that finding it anywhere in a row means the row names the user.
ALICE_ID = "alice-7731903"
ALICE = UserRef("test", ALICE_ID)


def today() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


async def reply_to(store: SqliteStore, user: str, usage: Usage, *, ask: bool = True) -> int:
    asked = message("what does it cost?", user=user)
    if ask:
        await store.record_incoming(asked)
    return await store.record_reply(asked, Reply("nothing", usage=usage), latency_ms=1.0)


async def spend_rows(store: SqliteStore) -> list[tuple[object, ...]]:
    rows = await store.db.execute_fetchall("SELECT user_ref, day, tokens, cost_usd FROM spend")
    return [tuple(row) for row in rows]


async def test_forget_keeps_the_users_and_the_bots_spend(store: SqliteStore) -> None:
    day, month = today()
    await reply_to(store, ALICE_ID, Usage(100, 20, 0.01))
    await reply_to(store, "bob", Usage(5, 5, 0.001))
    before = await spend_rows(store)

    await store.forget_user(ALICE)

    assert await spend_rows(store) == before
    assert await store.user_spend(ALICE, day, month) == (Spent(120, 0.01), Spent(120, 0.01))
    assert await store.global_spend(day) == Spent(130, 0.011)


async def test_a_reply_stored_after_its_user_was_forgotten_still_counts(
    store: SqliteStore,
) -> None:
    day, month = today()
    asked = message("quick, before I go", user=ALICE_ID)
    await store.record_incoming(asked)
    await store.forget_user(ALICE)
    # The model was already answering: the reply is not stored, but it was paid for.
    assert await store.record_reply(asked, Reply("bye", usage=Usage(40, 2, 0.5)), 1.0) == 0
    assert await store.user_spend(ALICE, day, month) == (Spent(42, 0.5), Spent(42, 0.5))


async def test_the_pseudonym_is_stable_across_reopening_and_differs_between_files(
    tmp_path: Path,
) -> None:
    day, month = today()
    path = tmp_path / "bastion.db"
    async with SqliteStore(path) as store:
        await reply_to(store, ALICE_ID, Usage(10, 10, 0.1))
        first = await spend_rows(store)
    async with SqliteStore(path) as store:
        await reply_to(store, ALICE_ID, Usage(1, 1, 0.01))
        second = await spend_rows(store)
        assert await store.user_spend(ALICE, day, month) == (Spent(22, 0.11), Spent(22, 0.11))
    assert len(first) == len(second) == 1
    assert first[0][0] == second[0][0]  # the same user_ref: one row, added to

    async with SqliteStore(tmp_path / "other.db") as other:
        await reply_to(other, ALICE_ID, Usage(10, 10, 0.1))
        elsewhere = await spend_rows(other)
    assert elsewhere[0][0] != first[0][0]  # a random secret per database


async def test_two_users_do_not_mix(store: SqliteStore) -> None:
    day, month = today()
    await reply_to(store, ALICE_ID, Usage(100, 0, 0.1))
    await reply_to(store, "bob", Usage(0, 7, 0.2))
    await reply_to(store, ALICE_ID, Usage(0, 1, 0.0))
    # Same id on another platform is another user.
    other = message("hi", user=ALICE_ID, platform="other")
    await store.record_incoming(other)
    await store.record_reply(other, Reply("hello", usage=Usage(1000, 0, 1.0)), 1.0)

    assert len({row[0] for row in await spend_rows(store)}) == 3
    assert (await store.user_spend(ALICE, day, month))[0] == Spent(101, 0.1)
    assert (await store.user_spend(UserRef("test", "bob"), day, month))[0] == Spent(7, 0.2)
    assert await store.global_spend(day) == Spent(1108, 1.3)


async def test_a_reply_that_cost_nothing_writes_no_spend(store: SqliteStore) -> None:
    assert await reply_to(store, ALICE_ID, Usage()) > 0  # the reply itself is stored
    assert await spend_rows(store) == []
    # Tokens alone or dollars alone are usage.
    await reply_to(store, ALICE_ID, Usage(0, 3, 0.0))
    await reply_to(store, "bob", Usage(0, 0, 0.25))
    assert len(await spend_rows(store)) == 2


async def test_the_aggregate_names_nobody(store: SqliteStore) -> None:
    await reply_to(store, ALICE_ID, Usage(100, 20, 0.01))
    await store.forget_user(ALICE)
    rows = await store.db.execute_fetchall("SELECT * FROM spend")
    assert rows
    dumped = repr([tuple(row) for row in rows])
    assert ALICE_ID not in dumped and ALICE.key not in dumped
    meta = repr([tuple(row) for row in await store.db.execute_fetchall("SELECT * FROM meta")])
    assert ALICE_ID not in meta


async def test_old_days_can_be_purged(store: SqliteStore) -> None:
    ref = sql_spend.user_ref(b"k", ALICE)
    now = datetime(2025, 6, 10, 12, tzinfo=UTC)
    for days_ago in (0, 30, 400, 401):
        await sql_spend.add(store.db, ref, Usage(1, 0, 0.0), now - timedelta(days=days_ago))
    assert await sql_spend.purge(store.db, now - timedelta(days=400)) == 1
    assert sorted(str(row[1]) for row in await spend_rows(store)) == [
        "2024-05-06",
        "2025-05-11",
        "2025-06-10",
    ]


def version_6_database(path: Path) -> None:
    """A database as the Bastion before migration 7 left it, with replies that cost something."""
    with closing(sqlite3.connect(path)) as db:
        for version, script in enumerate(MIGRATIONS[:6], start=1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
        db.executescript(
            f"""
            INSERT INTO users (id, platform, platform_user_id, first_seen)
                VALUES (1, 'test', '{ALICE_ID}', '2025-05-01T00:00:00+00:00'),
                       (2, 'test', 'bob', '2025-05-01T00:00:00+00:00');
            INSERT INTO conversations (id, key, platform, chat_id)
                VALUES (1, 'test:{ALICE_ID}:', 'test', '{ALICE_ID}'),
                       (2, 'test:bob:', 'test', 'bob');
            INSERT INTO messages (conversation_id, user_id, direction, text, created_at,
                                  input_tokens, output_tokens, cost_usd)
                VALUES (1, 1, 'in', 'q', '2025-06-10T10:00:00+00:00', 0, 0, 0),
                       (1, 1, 'out', 'a', '2025-06-10T10:00:01.250000+00:00', 100, 20, 0.01),
                       (1, 1, 'out', 'a', '2025-06-10T23:59:59.999999+00:00', 1, 1, 0.001),
                       (1, 1, 'out', 'a', '2025-06-09T23:00:00-02:00', 7, 0, 0.5),
                       (1, 1, 'out', 'rules', '2025-06-10T11:00:00+00:00', 0, 0, 0),
                       (2, 2, 'out', 'a', '2025-05-31T12:00:00+00:00', 50, 50, 1.0);
            """
        )


async def test_upgrading_back_fills_the_spend_of_stored_replies_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    version_6_database(path)
    day, month = datetime(2025, 6, 10, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)

    for _ in range(2):  # the second open must not add it again
        async with SqliteStore(path) as store:
            async with store.db.execute("PRAGMA user_version") as cursor:
                assert await cursor.fetchone() == (len(MIGRATIONS),)
            # 23:00 at -02:00 on the 9th is 01:00 UTC on the 10th.
            assert await store.user_spend(ALICE, day, month) == (
                Spent(129, 0.511),
                Spent(129, 0.511),
            )
            bob = UserRef("test", "bob")
            assert await store.user_spend(bob, day, month) == (Spent(), Spent())
            assert await store.global_spend(datetime(2025, 5, 31, tzinfo=UTC)) == Spent(229, 1.511)
            assert len(await spend_rows(store)) == 2  # the reply that cost nothing: no row
            marker = await store.db.execute_fetchall(
                "SELECT 1 FROM meta WHERE key = 'spend_backfill'"
            )
            assert list(marker) == []
            # Migration 7 replaced the budgets' index on messages.
            index = await store.db.execute_fetchall(
                "SELECT 1 FROM sqlite_master WHERE name = 'messages_replies_by_time'"
            )
            assert list(index) == []


async def test_an_interrupted_back_fill_is_done_at_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    version_6_database(path)
    with closing(sqlite3.connect(path)) as db:
        # Migration 7 committed, then the process died before the back-fill.
        db.executescript(f"BEGIN;\n{MIGRATIONS[6]}\nPRAGMA user_version = 7;\nCOMMIT;")
    day = datetime(2025, 6, 10, tzinfo=UTC)
    async with SqliteStore(path) as store:
        assert await store.global_spend(day) == Spent(129, 0.511)
