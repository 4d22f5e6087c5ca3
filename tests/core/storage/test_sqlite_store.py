"""The SQLite conversation store, each test on a fresh temporary database file."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from core.errors import StorageError
from core.model import Reply, ReplyKind, Role, TurnOutcome, Usage
from core.storage.sqlite import SqliteStore
from core.storage.sqlite.migrations import MIGRATIONS
from tests.fakes import message


async def test_database_runs_in_wal_mode_with_the_latest_schema(store: SqliteStore) -> None:
    async with store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone()) == ("wal",)
    async with store.db.execute("PRAGMA user_version") as cursor:
        assert (await cursor.fetchone()) == (len(MIGRATIONS),)


async def test_missing_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "bastion.db"
    async with SqliteStore(path) as store:
        await store.ping()
    assert path.exists()


async def test_migrations_are_applied_once_and_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "bastion.db"
    incoming = message("hello")
    async with SqliteStore(path) as store:
        await store.record_incoming(incoming)
    async with SqliteStore(path) as store:
        history = await store.history(incoming.chat)
    assert [m.text for m in history] == ["hello"]


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StorageError, match="newer than this Bastion"):
        async with SqliteStore(path):
            pass


async def test_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot open"):
        async with SqliteStore(blocker / "bastion.db"):
            pass


async def test_reply_is_stored_with_provider_tokens_cost_latency_and_outcome(
    store: SqliteStore,
) -> None:
    incoming = message("when are you open?")
    await store.record_incoming(incoming)
    reply = Reply(
        "9 to 6",
        provider="rules",
        model="kb:abc",
        outcome=TurnOutcome.ANSWERED,
        usage=Usage(input_tokens=12, output_tokens=4, cost_usd=0.0002),
    )
    await store.record_reply(incoming, reply, latency_ms=3.5)
    async with store.db.execute(
        """SELECT direction, text, kind, outcome, provider, model, input_tokens, output_tokens,
                  cost_usd, latency_ms FROM messages ORDER BY id"""
    ) as cursor:
        rows = await cursor.fetchall()
    assert [tuple(r) for r in rows] == [
        ("in", "when are you open?", "", "", "", "", 0, 0, 0.0, None),
        ("out", "9 to 6", "answer", "answered", "rules", "kb:abc", 12, 4, 0.0002, 3.5),
    ]


async def test_context_is_the_newest_messages_oldest_first(store: SqliteStore) -> None:
    for n in range(5):
        incoming = message(f"q{n}")
        await store.record_incoming(incoming)
        await store.record_reply(incoming, Reply(f"a{n}"), latency_ms=1)
    context = await store.context(message("x").chat, limit=3)
    assert [(m.role, m.text) for m in context] == [
        (Role.ASSISTANT, "a3"),
        (Role.USER, "q4"),
        (Role.ASSISTANT, "a4"),
    ]


async def test_context_is_per_conversation(store: SqliteStore) -> None:
    await store.record_incoming(message("mine", user="alice"))
    await store.record_incoming(message("theirs", user="bob"))
    context = await store.context(message("x", user="alice").chat, limit=10)
    assert [m.text for m in context] == ["mine"]


async def test_reset_empties_the_context_but_keeps_the_history(store: SqliteStore) -> None:
    first = message("before")
    await store.record_incoming(first)
    await store.reset_context(first.chat)
    await store.record_incoming(message("after"))
    assert [m.text for m in await store.context(first.chat, limit=10)] == ["after"]
    assert [m.text for m in await store.history(first.chat)] == ["before", "after"]


async def test_forget_removes_both_directions_and_leaves_other_users(store: SqliteStore) -> None:
    mine, theirs = message("my secret", user="alice"), message("hi", user="bob")
    for incoming in (mine, theirs):
        await store.record_incoming(incoming)
        await store.record_reply(incoming, Reply("ok", kind=ReplyKind.ANSWER), latency_ms=1)

    removed = await store.forget_user(mine.user)

    assert removed == 2
    assert await store.history(mine.chat) == ()
    assert [m.text for m in await store.history(theirs.chat)] == ["hi", "ok"]
    async with store.db.execute("SELECT platform_user_id FROM users") as cursor:
        assert [r[0] for r in await cursor.fetchall()] == ["bob"]
    async with store.db.execute("SELECT key FROM conversations") as cursor:
        assert [r[0] for r in await cursor.fetchall()] == [theirs.chat.key]


async def test_a_reply_to_a_forgotten_user_is_not_stored(store: SqliteStore) -> None:
    incoming = message("hello")
    await store.record_incoming(incoming)
    await store.forget_user(incoming.user)
    await store.record_reply(incoming, Reply("hi"), latency_ms=1)
    assert await store.history(incoming.chat) == ()


async def test_using_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "x.db")
    with pytest.raises(StorageError, match="not open"):
        await store.ping()


async def test_the_wal_is_checkpointed_off_the_write_path_while_the_store_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bastion.db"
    async with SqliteStore(path) as store:
        async with store.db.execute("PRAGMA wal_autocheckpoint") as cursor:
            assert await cursor.fetchone() == (0,)  # commits never pay for a checkpoint
        size_before = path.stat().st_size
        for n in range(200):
            await store.record_incoming(message(f"message {n}"))
        # New pages reach the database file only through a checkpoint: wait for one.
        for _ in range(60):
            if path.stat().st_size > size_before:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > size_before
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (200,)


async def test_forget_leaves_no_copy_of_the_text_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "bastion.db"
    secret = "my passport number is XK1234567"
    async with SqliteStore(path) as store:
        mine = message(secret, user="alice")
        await store.record_incoming(mine)
        await store.record_incoming(message("unrelated", user="bob"))
        await store.forget_user(mine.user)
        on_disk = await asyncio.to_thread(_database_bytes, tmp_path)
    assert secret.encode() not in on_disk


def _database_bytes(folder: Path) -> bytes:
    """The database file, its WAL and shared memory, as they are on disk right now."""
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("bastion.db"))


async def test_a_cancelled_write_does_not_break_later_writes(store: SqliteStore) -> None:
    first = message("first", user="alice")
    task = asyncio.create_task(store.record_incoming(first))
    await asyncio.sleep(0)  # inside the user/conversation transaction
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    later = message("later", user="bob")
    await store.record_incoming(later)
    await store.record_reply(later, Reply("ok"), latency_ms=1)
    assert [m.text for m in await store.history(later.chat)] == ["later", "ok"]
    async with store.db.execute("SELECT 1") as cursor:
        assert await cursor.fetchone() == (1,)
    assert not store.db.in_transaction


async def test_the_ladders_path_is_stored_with_the_reply(store: SqliteStore) -> None:
    incoming = message("hello")
    await store.record_incoming(incoming)
    reply = Reply("hi", provider="anthropic", trail=("openai:timeout", "anthropic:answered"))
    await store.record_reply(incoming, reply, latency_ms=1)
    async with store.db.execute("SELECT trail FROM messages WHERE direction = 'out'") as cursor:
        assert await cursor.fetchone() == ("openai:timeout anthropic:answered",)


async def test_token_count_and_importance_are_kept_with_each_message(tmp_path: Path) -> None:
    weighed: list[str] = []

    def weigh(role: Role, text: str) -> tuple[int, float]:
        weighed.append(text)
        return len(text.split()), 0.9 if role is Role.USER else 0.2

    async with SqliteStore(tmp_path / "w.db", weigh) as store:
        incoming = message("my order NW-1 is late")
        await store.record_incoming(incoming)
        await store.record_reply(incoming, Reply("sorry to hear that"), latency_ms=1)
        context = await store.context(incoming.chat, limit=10)
    assert [(m.tokens, m.importance) for m in context] == [(5, 0.9), (4, 0.2)]
    assert weighed == ["my order NW-1 is late", "sorry to hear that"]  # once, when stored
