"""The durable inbox on a real SQLite file: receive, answer, finish, replay, purge, forget."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.model import (
    ChatRef,
    Command,
    InboxState,
    IncomingMessage,
    Reply,
    ReplyKind,
    TurnOutcome,
    Usage,
    UserRef,
)
from core.storage.sqlite import SqliteStore
from tests.fakes import message


def full_reply(text: str = "the answer") -> Reply:
    """A reply with every field the codec keeps set to something other than its default."""
    return Reply(
        text,
        kind=ReplyKind.NOTICE,
        outcome=TurnOutcome.HANDED_OFF,
        provider="anthropic",
        model="claude-x",
        usage=Usage(input_tokens=12, output_tokens=34, cost_usd=0.0056),
        trail=("openai:timeout", "anthropic:answered"),
        silent=True,
    )


async def inbox_row(store: SqliteStore, entry_id: int) -> dict[str, object]:
    async with store.db.execute(
        "SELECT state, payload, reply, finished_at FROM inbox WHERE id = ?", (entry_id,)
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return dict(zip(("state", "payload", "reply", "finished_at"), row, strict=True))


async def inbox_ids(store: SqliteStore) -> list[int]:
    async with store.db.execute("SELECT id FROM inbox ORDER BY id") as cursor:
        return [int(row[0]) for row in await cursor.fetchall()]


async def set_finished_at(store: SqliteStore, entry_id: int, when: datetime) -> None:
    await store.db.execute(
        "UPDATE inbox SET finished_at = ? WHERE id = ?", (when.isoformat(), entry_id)
    )


# Receiving and duplicates


async def test_a_new_message_is_pending_and_listed_as_unfinished(store: SqliteStore) -> None:
    incoming = message("hello")

    received = await store.receive(incoming)

    assert received.duplicate is False
    assert received.entry_id > 0
    [entry] = await store.unfinished()
    assert entry.id == received.entry_id
    assert entry.state is InboxState.PENDING
    assert entry.reply is None
    assert entry.message == incoming
    assert entry.message.replayed is True


async def test_the_same_message_twice_is_a_duplicate_of_the_first_entry(
    store: SqliteStore,
) -> None:
    incoming = message("hello")

    first = await store.receive(incoming)
    second = await store.receive(incoming)

    assert first.duplicate is False
    assert second.duplicate is True
    assert second.entry_id == first.entry_id
    assert await inbox_ids(store) == [first.entry_id]


async def test_a_late_duplicate_after_done_is_still_recognised(store: SqliteStore) -> None:
    incoming = message("hello")
    first = await store.receive(incoming)
    await store.done(first.entry_id)

    late = await store.receive(incoming)

    assert late.duplicate is True
    assert late.entry_id == first.entry_id
    assert await store.unfinished() == []


async def test_duplicates_are_recognised_across_a_reopen_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    pending, finished = message("still waiting"), message("already sent")
    async with SqliteStore(path) as store:
        pending_entry = await store.receive(pending)
        finished_entry = await store.receive(finished)
        await store.done(finished_entry.entry_id)

    async with SqliteStore(path) as store:
        again_pending = await store.receive(pending)
        again_finished = await store.receive(finished)
        [entry] = await store.unfinished()

    assert again_pending == dataclasses.replace(pending_entry, duplicate=True)
    assert again_finished == dataclasses.replace(finished_entry, duplicate=True)
    assert entry.id == pending_entry.entry_id
    assert entry.message == pending
    assert entry.message.text == "still waiting"


async def test_the_same_message_id_in_another_chat_is_not_a_duplicate(
    store: SqliteStore,
) -> None:
    here = message("hi", chat="room-1")
    there = dataclasses.replace(here, chat=ChatRef("test", "room-2"))

    first = await store.receive(here)
    second = await store.receive(there)

    assert second.duplicate is False
    assert second.entry_id != first.entry_id
    assert [entry.message.chat for entry in await store.unfinished()] == [here.chat, there.chat]


async def test_the_same_message_id_on_another_platform_is_not_a_duplicate(
    store: SqliteStore,
) -> None:
    here = message("hi", chat="room", platform="telegram")
    there = dataclasses.replace(here, user=UserRef("web", "u1"), chat=ChatRef("web", "room"))

    assert (await store.receive(here)).duplicate is False
    assert (await store.receive(there)).duplicate is False
    assert len(await inbox_ids(store)) == 2


# Answering, finishing, replaying


async def test_an_answered_entry_is_replayed_with_its_reply(store: SqliteStore) -> None:
    incoming = message("what is the price?")
    received = await store.receive(incoming)
    reply = full_reply()

    await store.answered(received.entry_id, reply)

    [entry] = await store.unfinished()
    assert entry.id == received.entry_id
    assert entry.state is InboxState.ANSWERED
    assert entry.message == incoming
    assert entry.reply == reply
    assert entry.reply is not None
    assert entry.reply.kind is ReplyKind.NOTICE
    assert entry.reply.outcome is TurnOutcome.HANDED_OFF
    assert entry.reply.usage == Usage(12, 34, 0.0056)
    assert entry.reply.trail == ("openai:timeout", "anthropic:answered")
    assert entry.reply.silent is True


@pytest.mark.parametrize(
    ("answered", "kept"),
    [
        (Reply("plain"), Reply("plain")),
        # A retry_after is about when the reply was made; the codec does not keep it.
        (Reply("slow down", retry_after=3.0), Reply("slow down")),
    ],
)
async def test_a_default_reply_round_trips_without_its_retry_after(
    store: SqliteStore, answered: Reply, kept: Reply
) -> None:
    received = await store.receive(message("hi"))

    await store.answered(received.entry_id, answered)

    [entry] = await store.unfinished()
    assert entry.reply == kept


async def test_answered_does_not_overwrite_an_earlier_answer(store: SqliteStore) -> None:
    received = await store.receive(message("hi"))
    await store.answered(received.entry_id, Reply("first"))

    await store.answered(received.entry_id, Reply("second"))

    [entry] = await store.unfinished()
    assert entry.reply == Reply("first")


async def test_a_done_entry_is_not_unfinished_and_its_text_is_gone(store: SqliteStore) -> None:
    received = await store.receive(message("my secret question"))
    await store.answered(received.entry_id, Reply("my secret answer"))

    await store.done(received.entry_id)

    assert await store.unfinished() == []
    row = await inbox_row(store, received.entry_id)
    assert row["state"] == "done"
    assert row["payload"] == ""
    assert row["reply"] is None
    assert row["finished_at"] is not None
    async with store.db.execute("SELECT * FROM inbox") as cursor:
        everything = repr(await cursor.fetchall())
    assert "secret" not in everything


async def test_a_pending_entry_can_be_done_directly(store: SqliteStore) -> None:
    received = await store.receive(message("hi"))

    await store.done(received.entry_id)

    assert await store.unfinished() == []
    assert (await inbox_row(store, received.entry_id))["state"] == "done"


async def test_a_replay_is_counted_when_it_begins_not_when_it_is_loaded(
    store: SqliteStore,
) -> None:
    first = await store.receive(message("one"))
    assert [e.replays for e in await store.unfinished()] == [0]
    assert [e.replays for e in await store.unfinished()] == [0]  # loading counts nothing

    await store.replaying(first.entry_id)
    second = await store.receive(message("two"))
    await store.replaying(first.entry_id)
    assert [(e.id, e.replays) for e in await store.unfinished()] == [
        (first.entry_id, 2),
        (second.entry_id, 0),
    ]


async def test_unfinished_is_oldest_first(store: SqliteStore) -> None:
    entries = [await store.receive(message(f"m{i}")) for i in range(5)]
    await store.answered(entries[3].entry_id, Reply("ready"))

    listed = await store.unfinished()

    assert [e.id for e in listed] == [r.entry_id for r in entries]
    assert [e.message.text for e in listed] == [f"m{i}" for i in range(5)]


# The message codec


async def test_the_message_codec_keeps_every_field(store: SqliteStore) -> None:
    sent_at = datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    incoming = IncomingMessage(
        message_id="tg-42",
        user=UserRef("telegram", "1001", "Zoë Ünïcode"),
        chat=ChatRef("telegram", "-500", thread_id="7", is_group=True),
        text="/reset now please",
        sent_at=sent_at,
        command=Command("reset", "now please"),
        extras={"reply_to": 41, "nested": {"a": [1, 2, None]}, "flag": True, "name": "ё"},
    )
    await store.receive(incoming)

    [entry] = await store.unfinished()

    loaded = entry.message
    assert loaded == incoming
    assert loaded.message_id == "tg-42"
    assert loaded.user.display_name == "Zoë Ünïcode"
    assert loaded.chat.thread_id == "7"
    assert loaded.chat.is_group is True
    assert loaded.command == Command("reset", "now please")
    assert loaded.sent_at == sent_at
    assert loaded.sent_at.utcoffset() == timedelta(hours=5, minutes=30)
    assert dict(loaded.extras) == {
        "reply_to": 41,
        "nested": {"a": [1, 2, None]},
        "flag": True,
        "name": "ё",
    }
    assert loaded.replayed is True


async def test_a_message_without_command_comes_back_without_one(store: SqliteStore) -> None:
    # Text an adapter decided is not a command, though it looks like one.
    incoming = dataclasses.replace(message("/forget"), command=None)
    await store.receive(incoming)

    [entry] = await store.unfinished()

    assert entry.message.command is None
    assert entry.message.chat.is_group is False
    assert entry.message.chat.thread_id == ""


async def test_extras_that_are_not_json_are_dropped_and_the_rest_kept(
    store: SqliteStore,
) -> None:
    incoming = dataclasses.replace(
        message("hi"),
        extras={
            "raw_update": object(),
            "when": datetime.now(UTC),
            "ids": {1, 2},
            "chat_title": "Support",
            "entities": [{"type": "bold", "offset": 0}],
            "nothing": None,
        },
    )

    received = await store.receive(incoming)
    [entry] = await store.unfinished()

    assert received.duplicate is False
    assert dict(entry.message.extras) == {
        "chat_title": "Support",
        "entities": [{"type": "bold", "offset": 0}],
        "nothing": None,
    }


# Held replies


async def test_held_replies_returns_the_chats_answered_replies_oldest_first(
    store: SqliteStore,
) -> None:
    mine = [message(f"q{i}", chat="web-1") for i in range(3)]
    other = message("elsewhere", chat="web-2")
    entries = [await store.receive(m) for m in mine]
    other_entry = await store.receive(other)
    # Answered out of order: the order returned is the order received.
    await store.answered(entries[2].entry_id, full_reply("a2"))
    await store.answered(entries[0].entry_id, Reply("a0"))
    await store.answered(other_entry.entry_id, Reply("not yours"))
    # entries[1] stays pending: not ready, not returned.

    held = await store.held_replies(mine[0].chat)

    assert held == [Reply("a0"), full_reply("a2")]
    left = await store.unfinished()
    assert [(e.id, e.state) for e in left] == [
        (entries[1].entry_id, InboxState.PENDING),
        (other_entry.entry_id, InboxState.ANSWERED),
    ]
    for entry in (entries[0], entries[2]):
        row = await inbox_row(store, entry.entry_id)
        assert (row["state"], row["payload"], row["reply"]) == ("done", "", None)


async def test_held_replies_are_handed_out_once(store: SqliteStore) -> None:
    incoming = message("q", chat="web-1")
    received = await store.receive(incoming)
    await store.answered(received.entry_id, Reply("a"))

    assert await store.held_replies(incoming.chat) == [Reply("a")]
    assert await store.held_replies(incoming.chat) == []
    assert await store.unfinished() == []


async def test_held_replies_of_a_chat_with_nothing_ready_is_empty(store: SqliteStore) -> None:
    incoming = message("q", chat="web-1")
    await store.receive(incoming)

    assert await store.held_replies(incoming.chat) == []
    assert [e.state for e in await store.unfinished()] == [InboxState.PENDING]


# Purging


async def test_purge_removes_only_done_rows_finished_before_the_cut_off(
    store: SqliteStore,
) -> None:
    cut_off = datetime(2024, 1, 10, tzinfo=UTC)
    old_done, recent_done, pending, answered = [
        await store.receive(message(text)) for text in ("old", "recent", "pending", "answered")
    ]
    await store.done(old_done.entry_id)
    await store.done(recent_done.entry_id)
    await set_finished_at(store, old_done.entry_id, cut_off - timedelta(days=1))
    await set_finished_at(store, recent_done.entry_id, cut_off + timedelta(seconds=1))
    await store.answered(answered.entry_id, Reply("a"))

    removed = await store.purge_inbox(cut_off)

    assert removed == 1
    assert await inbox_ids(store) == [
        recent_done.entry_id,
        pending.entry_id,
        answered.entry_id,
    ]
    assert [e.id for e in await store.unfinished()] == [pending.entry_id, answered.entry_id]


async def test_purge_with_nothing_old_removes_nothing(store: SqliteStore) -> None:
    received = await store.receive(message("hi"))
    await store.done(received.entry_id)

    assert await store.purge_inbox(datetime.now(UTC) - timedelta(days=1)) == 0
    assert await inbox_ids(store) == [received.entry_id]


async def test_a_purged_message_is_no_longer_a_duplicate(store: SqliteStore) -> None:
    incoming = message("hi")
    first = await store.receive(incoming)
    await store.done(first.entry_id)

    assert await store.purge_inbox(datetime.now(UTC) + timedelta(days=1)) == 1

    again = await store.receive(incoming)
    assert again.duplicate is False
    assert [e.message for e in await store.unfinished()] == [incoming]


async def test_purge_honours_a_cut_off_given_in_another_time_zone(store: SqliteStore) -> None:
    received = await store.receive(message("hi"))
    await store.done(received.entry_id)
    finished = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
    await set_finished_at(store, received.entry_id, finished)
    # One hour after the row finished, written as New York time (08:00-05:00 is 13:00 UTC).
    cut_off = (finished + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5)))

    assert await store.purge_inbox(cut_off) == 1
    assert await inbox_ids(store) == []


# Forgetting a user


async def test_forget_user_removes_their_inbox_rows_and_leaves_others(
    store: SqliteStore,
) -> None:
    alice_pending = message("alice 1", user="alice")
    alice_answered = message("alice 2", user="alice")
    alice_done = message("alice 3", user="alice")
    bob = message("bob 1", user="bob")
    entries = {m.text: await store.receive(m) for m in (alice_pending, alice_answered, alice_done)}
    bob_entry = await store.receive(bob)
    await store.answered(entries["alice 2"].entry_id, Reply("for alice"))
    await store.done(entries["alice 3"].entry_id)
    await store.record_incoming(alice_pending)

    await store.forget_user(alice_pending.user)

    assert await inbox_ids(store) == [bob_entry.entry_id]
    [entry] = await store.unfinished()
    assert entry.message == bob
    # A forgotten user's message is new again, not a duplicate of a deleted row.
    assert (await store.receive(alice_done)).duplicate is False


async def test_forget_user_without_stored_messages_still_clears_the_inbox(
    store: SqliteStore,
) -> None:
    incoming = message("only in the inbox", user="carol")
    await store.receive(incoming)

    await store.forget_user(incoming.user)

    assert await inbox_ids(store) == []


# Replays and the conversation store


async def count_incoming(store: SqliteStore, platform_message_id: str) -> int:
    async with store.db.execute(
        "SELECT COUNT(*) FROM messages WHERE direction = 'in' AND platform_message_id = ?",
        (platform_message_id,),
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_a_replayed_message_reuses_its_stored_incoming_row(store: SqliteStore) -> None:
    incoming = message("hello")
    first_id = await store.record_incoming(incoming)
    await store.receive(incoming)
    [entry] = await store.unfinished()

    again_id = await store.record_incoming(entry.message)

    assert entry.message.replayed is True
    assert again_id == first_id
    assert await count_incoming(store, incoming.message_id) == 1
    assert [m.text for m in await store.history(incoming.chat)] == ["hello"]


async def test_a_replayed_message_never_stored_before_is_stored_once(
    store: SqliteStore,
) -> None:
    incoming = dataclasses.replace(message("crashed before storing"), replayed=True)

    first_id = await store.record_incoming(incoming)
    again_id = await store.record_incoming(incoming)

    assert first_id > 0
    assert again_id == first_id
    assert await count_incoming(store, incoming.message_id) == 1


async def test_a_replayed_message_reuses_its_row_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    incoming = message("hello")
    async with SqliteStore(path) as store:
        first_id = await store.record_incoming(incoming)
        await store.receive(incoming)

    async with SqliteStore(path) as store:
        [entry] = await store.unfinished()
        again_id = await store.record_incoming(entry.message)
        assert again_id == first_id
        assert await count_incoming(store, incoming.message_id) == 1


async def test_a_message_not_replayed_is_stored_again(store: SqliteStore) -> None:
    incoming = message("hello")

    first_id = await store.record_incoming(incoming)
    second_id = await store.record_incoming(incoming)

    assert second_id != first_id
    assert await count_incoming(store, incoming.message_id) == 2


async def test_purge_also_expires_rows_never_finished_after_the_retention(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "expiry.db") as store:
        await store.receive(message("held for a client that never came back"))
        assert await store.purge_inbox(datetime.now(UTC) - timedelta(hours=1)) == 0
        assert await store.purge_inbox(datetime.now(UTC) + timedelta(seconds=1)) == 1
        assert await store.unfinished() == []


async def test_a_held_reply_is_kept_for_the_retention_from_when_it_was_made(
    store: SqliteStore,
) -> None:
    received = await store.receive(message("asked before a two-day outage"))
    await store.db.execute("UPDATE inbox SET received_at = datetime('now', '-2 days')")
    await store.answered(received.entry_id, Reply("answered after it"))

    assert await store.purge_inbox(datetime.now(UTC) - timedelta(hours=24)) == 0
    assert [e.state for e in await store.unfinished()] == [InboxState.ANSWERED]
    assert await store.purge_inbox(datetime.now(UTC) + timedelta(seconds=1)) == 1


async def test_a_held_reply_from_before_its_making_was_recorded_still_expires(
    store: SqliteStore,
) -> None:
    received = await store.receive(message("answered by an older version"))
    await store.answered(received.entry_id, Reply("held"))
    await store.db.execute("UPDATE inbox SET finished_at = NULL")  # as that version left it

    assert await store.purge_inbox(datetime.now(UTC) + timedelta(seconds=1)) == 1


async def test_a_row_with_a_field_of_the_wrong_type_is_closed_not_fatal(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "odd.db") as store:
        await store.receive(message("fine"))
        payload = (
            '{"id": "x", "user": ["test", "u", ""], "chat": ["test", "u", "", false],'
            ' "text": 42, "sent_at": "2026-01-01T00:00:00+00:00", "command": null, "extras": {}}'
        )
        await store.db.execute(
            """INSERT INTO inbox (platform, chat_key, message_id, user_key, payload, received_at)
               VALUES ('test', 'test:u:', 'x', 'test:u', ?, '2026-01-01T00:00:00+00:00')""",
            (payload,),
        )
        assert [e.message.text for e in await store.unfinished()] == ["fine"]
        assert [e.message.text for e in await store.unfinished()] == ["fine"]
