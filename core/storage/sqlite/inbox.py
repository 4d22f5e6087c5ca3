"""The SQL behind the durable inbox; ``SqliteStore`` calls these, minding its write lock.

A row is written when a message is accepted, before the platform hears it arrived, and is
finished when the reply is sent. Its text lives in the row only that long: a finished row keeps
just the ids, so a platform's late second delivery of the same message is still recognised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiosqlite
from loguru import logger

from core.model import (
    ChatRef,
    Command,
    InboxEntry,
    InboxState,
    IncomingMessage,
    Received,
    Reply,
    ReplyKind,
    TurnOutcome,
    Usage,
    UserRef,
)

# Finished: the text goes, the ids stay (to spot a late duplicate) until the purge.
_DONE = """UPDATE inbox SET state = 'done', payload = '', reply = NULL, finished_at = ?
           WHERE id = ?"""


async def receive(db: aiosqlite.Connection, message: IncomingMessage, now: datetime) -> Received:
    """Insert ``message`` as pending, or find the row an earlier delivery of it left."""
    key = (message.user.platform, message.chat.key, message.message_id)
    # execute_fetchall: one round trip to the database thread instead of three (execute,
    # fetch, close); this runs for every message.
    rows = list(
        await db.execute_fetchall(
            """INSERT INTO inbox (platform, chat_key, message_id, user_key, payload, received_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (platform, chat_key, message_id) DO NOTHING
               RETURNING id""",
            (*key, message.user.key, dump_message(message), now.isoformat()),
        )
    )
    if rows:
        return Received(int(rows[0][0]))
    rows = list(
        await db.execute_fetchall(
            "SELECT id FROM inbox WHERE platform = ? AND chat_key = ? AND message_id = ?", key
        )
    )
    # Gone between the two statements only if a purge or /forget removed it: treat as seen.
    return Received(int(rows[0][0]) if rows else 0, duplicate=True)


async def answered(db: aiosqlite.Connection, entry_id: int, reply: Reply, now: datetime) -> None:
    """Keep the reply with the message until it is sent; a replay then sends it, not re-asks.

    ``finished_at`` says when the reply was made: a held reply is kept that long from then,
    however old its question (a long downtime must not make it too old to collect). Rows
    answered by an older Bastion have none; their question's time stands in.
    """
    await db.execute(
        """UPDATE inbox SET state = 'answered', reply = ?, finished_at = ?
           WHERE id = ? AND state = 'pending'""",
        (dump_reply(reply), now.isoformat(), entry_id),
    )


async def newest(db: aiosqlite.Connection, limit: int) -> list[tuple[str, str, str, int]]:
    """The newest ``limit`` entries' unique keys and ids, newest first."""
    rows = await db.execute_fetchall(
        "SELECT platform, chat_key, message_id, id FROM inbox ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [(str(p), str(c), str(m), int(i)) for p, c, m, i in rows]


async def replaying(db: aiosqlite.Connection, entry_id: int) -> None:
    """Count a replay as it begins: a start that never got to the entry is not one."""
    await db.execute("UPDATE inbox SET attempts = attempts + 1 WHERE id = ?", (entry_id,))


async def done(db: aiosqlite.Connection, entry_id: int, now: datetime) -> None:
    """The reply was sent: drop the text, keep the ids for duplicate detection."""
    await db.execute(_DONE, (now.isoformat(), entry_id))


async def unfinished(db: aiosqlite.Connection, now: datetime) -> list[InboxEntry]:
    """Every entry not done, oldest first.

    A row that cannot be read back (written by another version, or damaged) is logged and
    closed: one bad row must not stop every start.
    """
    rows = await db.execute_fetchall(
        "SELECT id, payload, state, reply, attempts FROM inbox WHERE state != 'done'"
    )
    entries: list[InboxEntry] = []
    for row in rows:
        try:
            entries.append(_entry(row))
        except Exception as exc:  # any shape of damage: JSON, a missing field, a wrong type
            logger.error("inbox entry {} cannot be read ({}); it is closed", row[0], exc)
            await done(db, int(row[0]), now)
    return sorted(entries, key=lambda entry: entry.id)


async def held(db: aiosqlite.Connection, chat_key: str, now: datetime) -> list[Reply]:
    """Replies ready for ``chat_key`` that nobody was waiting for, oldest first; now done.

    Call inside a transaction: the read and the update must see the same rows.
    """
    async with db.execute(
        "SELECT id, reply FROM inbox WHERE chat_key = ? AND state = 'answered' ORDER BY id",
        (chat_key,),
    ) as cursor:
        rows = list(await cursor.fetchall())
    await db.executemany(_DONE, [(now.isoformat(), int(row[0])) for row in rows])
    return [load_reply(str(reply)) for _, reply in rows]


async def purge(db: aiosqlite.Connection, older_than: datetime) -> int:
    """Forget rows older than the retention; returns how many.

    Finished rows go (their ids were kept only to spot late duplicates), and so do rows never
    finished by then: a held reply nobody collected within the retention of its making, or a
    message for a platform no longer configured. Their text must not stay on disk for ever.
    """
    cut = older_than.astimezone(UTC).isoformat()
    cursor = await db.execute(
        """DELETE FROM inbox WHERE (state = 'done' AND finished_at < ?)
           OR (state = 'answered' AND COALESCE(finished_at, received_at) < ?)
           OR (state = 'pending' AND received_at < ?)""",
        (cut, cut, cut),
    )
    await cursor.close()
    return cursor.rowcount


async def discard(db: aiosqlite.Connection, entry_id: int) -> None:
    await db.execute("DELETE FROM inbox WHERE id = ?", (entry_id,))


async def forget_user(db: aiosqlite.Connection, user_key: str) -> None:
    await db.execute("DELETE FROM inbox WHERE user_key = ?", (user_key,))


def _entry(row: aiosqlite.Row | tuple[Any, ...]) -> InboxEntry:
    entry_id, payload, state, reply, attempts = row
    return InboxEntry(
        id=int(entry_id),
        message=load_message(str(payload)),
        state=InboxState(state),
        reply=load_reply(str(reply)) if reply else None,
        replays=int(attempts),
    )


def dump_message(message: IncomingMessage) -> str:
    user, chat, command = message.user, message.chat, message.command
    data: dict[str, Any] = {
        "id": message.message_id,
        "user": [user.platform, user.user_id, user.display_name],
        "chat": [chat.platform, chat.chat_id, chat.thread_id, chat.is_group],
        "text": message.text,
        "sent_at": message.sent_at.isoformat(),
        "command": None if command is None else [command.name, command.args],
        "extras": dict(message.extras),
    }
    try:
        # Adapters keep their extras plain JSON: one pass is the usual case on every message.
        # Only when some extra is not are the extras sifted value by value.
        return json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError):
        data["extras"] = _portable(message.extras)
        return json.dumps(data, ensure_ascii=False)


def load_message(payload: str) -> IncomingMessage:
    data = json.loads(payload)
    platform, user_id, display_name = data["user"]
    chat_platform, chat_id, thread_id, is_group = data["chat"]
    command, text = data["command"], data["text"]
    if not isinstance(text, str):
        raise TypeError("the stored text is not a string")
    return IncomingMessage(
        message_id=data["id"],
        user=UserRef(platform, user_id, display_name),
        chat=ChatRef(chat_platform, chat_id, thread_id, is_group),
        text=text,
        sent_at=datetime.fromisoformat(data["sent_at"]),
        # As the adapter decided: text it kept from being a command (a group message not
        # addressed to the bot) must not become one on a replay.
        command=Command(*command) if command else None,
        extras=data["extras"],
        replayed=True,
    )


def dump_reply(reply: Reply) -> str:
    usage = reply.usage
    return json.dumps(
        {
            "text": reply.text,
            "kind": reply.kind,
            "outcome": reply.outcome,
            "provider": reply.provider,
            "model": reply.model,
            "usage": [usage.input_tokens, usage.output_tokens, usage.cost_usd],
            "trail": list(reply.trail),
            "silent": reply.silent,
        },
        ensure_ascii=False,
    )


def load_reply(payload: str) -> Reply:
    data = json.loads(payload)
    return Reply(
        text=data["text"],
        kind=ReplyKind(data["kind"]),
        outcome=TurnOutcome(data["outcome"]),
        provider=data["provider"],
        model=data["model"],
        usage=Usage(*data["usage"]),
        trail=tuple(data["trail"]),
        silent=data["silent"],
    )


def _portable(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The extras JSON can carry; adapters keep what a replay needs in plain values."""
    kept: dict[str, Any] = {}
    for name, value in extras.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            logger.debug("inbox: extra {!r} is not JSON and is not kept for a replay", name)
            continue
        kept[name] = value
    return kept
