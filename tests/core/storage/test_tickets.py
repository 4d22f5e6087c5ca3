"""Hand-off tickets in the SQLite store: one open per conversation, gone with /forget."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.model import ChatRef, Reply, Role, StoredMessage, TicketStatus, UserRef
from core.storage.sqlite import SqliteStore
from core.storage.sqlite.migrations import MIGRATIONS
from tests.fakes import message

ALICE = UserRef("test", "alice", "Alice")
BOB = UserRef("test", "bob")
ALICE_DM = ChatRef("test", "alice")
BOB_DM = ChatRef("test", "bob")
GROUP = ChatRef("test", "group-1", thread_id="t7")


def said(text: str, role: Role = Role.USER, at_minute: int = 0, id_: int = 0) -> StoredMessage:
    at = datetime(2025, 3, 1, 9, at_minute, tzinfo=UTC)
    return StoredMessage(id=id_, role=role, text=text, created_at=at)


async def test_a_ticket_keeps_who_where_why_and_the_transcript(store: SqliteStore) -> None:
    transcript = (
        said("where is my parcel?", id_=1),
        said("I don't know", Role.ASSISTANT, 1, id_=2),
        said("/human", at_minute=2),
    )
    before = datetime.now(UTC)
    opened = await store.open_ticket(ALICE, GROUP, "user asked for a person", transcript)

    assert (opened.user, opened.chat, opened.reason) == (ALICE, GROUP, "user asked for a person")
    assert opened.transcript == transcript
    assert opened.status == TicketStatus.OPEN
    assert before <= opened.opened_at <= datetime.now(UTC)
    assert await store.open_ticket_for(GROUP) == opened
    assert await store.open_tickets() == [opened]


async def test_opening_twice_returns_the_ticket_already_open(store: SqliteStore) -> None:
    first = await store.open_ticket(ALICE, ALICE_DM, "first reason", [said("hi")])
    second = await store.open_ticket(ALICE, ALICE_DM, "second reason", [said("again")])

    assert second == first
    assert second.reason == "first reason"
    assert len(await store.open_tickets()) == 1


async def test_the_database_refuses_a_second_open_ticket_for_a_conversation(
    store: SqliteStore,
) -> None:
    ticket = await store.open_ticket(ALICE, ALICE_DM, "why", [])
    with pytest.raises(sqlite3.IntegrityError):
        await store.db.execute(
            """INSERT INTO tickets (user_id, conversation_id, reason, opened_at)
               SELECT user_id, conversation_id, 'again', opened_at FROM tickets WHERE id = ?""",
            (ticket.id,),
        )


async def test_each_conversation_has_its_own_ticket_listed_oldest_first(
    store: SqliteStore,
) -> None:
    alice = await store.open_ticket(ALICE, ALICE_DM, "a", [])
    bob = await store.open_ticket(BOB, BOB_DM, "b", [])

    assert alice.id != bob.id
    assert [t.id for t in await store.open_tickets()] == [alice.id, bob.id]
    assert await store.open_ticket_for(BOB_DM) == bob
    assert await store.open_ticket_for(ChatRef("test", "nobody")) is None


async def test_closing_frees_the_conversation_for_a_new_ticket(store: SqliteStore) -> None:
    first = await store.open_ticket(ALICE, ALICE_DM, "first", [])

    assert await store.close_ticket(first.id) is True
    assert await store.close_ticket(first.id) is False  # already closed
    assert await store.open_ticket_for(ALICE_DM) is None
    assert await store.open_tickets() == []
    second = await store.open_ticket(ALICE, ALICE_DM, "second", [])
    assert second.id != first.id and second.reason == "second"
    async with store.db.execute(
        "SELECT status, closed_at IS NOT NULL FROM tickets ORDER BY id"
    ) as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [("closed", 1), ("open", 0)]


@pytest.mark.parametrize("ticket_id", [0, -1, 999, 2**63, 10**30])
async def test_closing_a_ticket_that_does_not_exist_says_so(
    store: SqliteStore, ticket_id: int
) -> None:
    await store.open_ticket(ALICE, ALICE_DM, "why", [])
    assert await store.close_ticket(ticket_id) is False
    assert len(await store.open_tickets()) == 1


async def test_a_ticket_can_be_someones_very_first_contact(store: SqliteStore) -> None:
    newcomer = UserRef("test", "new", "Newcomer")
    await store.open_ticket(newcomer, ChatRef("test", "new"), "why", [])
    async with store.db.execute("SELECT platform_user_id, display_name FROM users") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [("new", "Newcomer")]
    # The rows the ticket created are the ones later messages use.
    await store.record_incoming(message("hello", user="new"))
    async with store.db.execute("SELECT COUNT(*) FROM users") as cursor:
        assert await cursor.fetchone() == (1,)


async def test_forget_removes_the_users_tickets_and_leaves_others(store: SqliteStore) -> None:
    mine = message("my parcel 123 is lost", user="alice")
    await store.record_incoming(mine)
    await store.open_ticket(ALICE, ALICE_DM, "why", [said(mine.text, id_=1)])
    theirs = await store.open_ticket(BOB, BOB_DM, "why", [said("hello")])

    await store.forget_user(ALICE)

    assert await store.open_tickets() == [theirs]
    async with store.db.execute("SELECT COUNT(*) FROM tickets") as cursor:
        assert await cursor.fetchone() == (1,)


async def test_forget_removes_closed_tickets_too(store: SqliteStore) -> None:
    ticket = await store.open_ticket(ALICE, ALICE_DM, "why", [said("secret")])
    await store.close_ticket(ticket.id)
    await store.forget_user(ALICE)
    async with store.db.execute("SELECT COUNT(*) FROM tickets") as cursor:
        assert await cursor.fetchone() == (0,)


async def test_forget_takes_the_user_out_of_someone_elses_ticket_in_a_group(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bastion.db"
    secret = "my passport number is XK1234567"
    async with SqliteStore(path) as store:
        hers = message(secret, user="alice", chat="group-1")
        his = message("can someone help?", user="bob", chat="group-1")
        for incoming in (hers, his):
            await store.record_incoming(incoming)
            await store.record_reply(incoming, Reply(f"re: {incoming.text}"), latency_ms=1)
        history = await store.context(his.chat, limit=10)
        ticket = await store.open_ticket(his.user, his.chat, "why", [*history, said("/human")])
        assert len(ticket.transcript) == 5

        await store.forget_user(hers.user)

        kept = await store.open_ticket_for(his.chat)
        assert kept is not None and kept.id == ticket.id
        assert [m.text for m in kept.transcript] == [
            "can someone help?",
            "re: can someone help?",
            "/human",
        ]
        on_disk = await asyncio.to_thread(_database_bytes, tmp_path)
    assert secret.encode() not in on_disk


async def test_forget_keeps_a_conversation_someone_elses_ticket_needs(
    store: SqliteStore,
) -> None:
    # Bob typed only /human (commands are not stored); Alice's messages were all there was.
    await store.record_incoming(message("hi all", user="alice", chat="group-1"))
    ticket = await store.open_ticket(BOB, ChatRef("test", "group-1"), "why", [said("/human")])

    await store.forget_user(ALICE)

    assert await store.open_tickets() == [ticket]


async def test_ticket_numbers_are_never_reused(store: SqliteStore) -> None:
    gone = await store.open_ticket(ALICE, ALICE_DM, "why", [])
    await store.forget_user(ALICE)
    later = await store.open_ticket(BOB, BOB_DM, "why", [])
    assert later.id > gone.id


async def test_a_version_1_database_upgrades_to_the_latest_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(MIGRATIONS[0])
        db.executescript(
            """
            INSERT INTO users (id, platform, platform_user_id, first_seen)
                VALUES (1, 'test', 'alice', '2025-01-01T00:00:00+00:00');
            INSERT INTO conversations (id, key, platform, chat_id)
                VALUES (1, 'test:alice:', 'test', 'alice');
            INSERT INTO messages (conversation_id, user_id, direction, text, created_at)
                VALUES (1, 1, 'in', 'from before the upgrade', '2025-01-01T00:00:01+00:00');
            PRAGMA user_version = 1;
            """
        )

    async with SqliteStore(path) as store:
        async with store.db.execute("PRAGMA user_version") as cursor:
            assert await cursor.fetchone() == (len(MIGRATIONS),)
        assert [m.text for m in await store.history(ALICE_DM)] == ["from before the upgrade"]
        # The old rows are the ones the new table points at.
        ticket = await store.open_ticket(ALICE, ALICE_DM, "why", [])
        async with store.db.execute(
            "SELECT user_id, conversation_id FROM tickets WHERE id = ?", (ticket.id,)
        ) as cursor:
            assert await cursor.fetchone() == (1, 1)


async def test_a_ticket_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "bastion.db"
    at = datetime.now(UTC) - timedelta(minutes=5)
    transcript = [StoredMessage(7, Role.USER, "naïve café ☕ question", at)]
    async with SqliteStore(path) as store:
        opened = await store.open_ticket(ALICE, ALICE_DM, "why", transcript)
    async with SqliteStore(path) as store:
        assert await store.open_ticket_for(ALICE_DM) == opened
    assert opened.transcript == tuple(transcript)


def _database_bytes(folder: Path) -> bytes:
    """The database file, its WAL and shared memory, as they are on disk right now."""
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("bastion.db"))


async def test_the_open_ticket_lookup_follows_opening_closing_forgetting_and_reopening(
    tmp_path: Path,
) -> None:
    alice, chat = UserRef("test", "alice"), ChatRef("test", "alice")
    async with SqliteStore(tmp_path / "gate.db") as store:
        assert await store.open_ticket_for(chat) is None
        ticket = await store.open_ticket(alice, chat, "asked", [])
        assert (await store.open_ticket_for(chat)) == ticket
        await store.close_ticket(ticket.id)
        assert await store.open_ticket_for(chat) is None
        await store.open_ticket(alice, chat, "again", [])
    async with SqliteStore(tmp_path / "gate.db") as reopened:  # known again after a restart
        assert (await reopened.open_ticket_for(chat)) is not None
        await reopened.forget_user(alice)
        assert await reopened.open_ticket_for(chat) is None
