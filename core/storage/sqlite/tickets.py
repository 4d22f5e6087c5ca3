"""The SQL behind hand-off tickets; ``SqliteStore`` calls these under its write lock.

A ticket keeps its own copy of the last messages (JSON in ``tickets.transcript``), so the people
on duty read what the user saw even after ``/reset`` moved the conversation's context on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from core.errors import StorageError
from core.model import ChatRef, Role, StoredMessage, Ticket, TicketStatus, UserRef

# SQLite integers are signed 64-bit; a larger id cannot name a row and would overflow the driver.
_MAX_ID = 2**63 - 1

_SELECT = """
    SELECT t.id, t.reason, t.transcript, t.opened_at, t.status,
           u.platform, u.platform_user_id, u.display_name,
           c.platform, c.chat_id, c.thread_id
    FROM tickets t
    JOIN users u ON u.id = t.user_id
    JOIN conversations c ON c.id = t.conversation_id
"""


async def open_or_existing(
    db: aiosqlite.Connection,
    *,
    user_id: int,
    conversation_id: int,
    reason: str,
    transcript: Sequence[StoredMessage],
    now: datetime,
) -> Ticket:
    """Insert a ticket unless the conversation has an open one; call inside a transaction.

    The transaction makes the look-up and the insert one step; the partial unique index would
    refuse a second open ticket anyway.
    """
    existing = await _first(
        db, _SELECT + " WHERE t.conversation_id = ? AND t.status = 'open'", (conversation_id,)
    )
    if existing is not None:
        return existing
    async with db.execute(
        """INSERT INTO tickets (user_id, conversation_id, reason, transcript, opened_at, status)
           VALUES (?, ?, ?, ?, ?, 'open')
           RETURNING id""",
        (user_id, conversation_id, reason, _dump(transcript), _timestamp(now)),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise StorageError("ticket insert returned no id")
    # Read back rather than assembled here, so a new ticket looks exactly like a loaded one.
    created = await _first(db, _SELECT + " WHERE t.id = ?", (int(row[0]),))
    if created is None:
        raise StorageError("a ticket vanished right after it was opened")
    return created


async def open_for(db: aiosqlite.Connection, chat_key: str) -> Ticket | None:
    return await _first(db, _SELECT + " WHERE c.key = ? AND t.status = 'open'", (chat_key,))


async def chats_with_open_tickets(db: aiosqlite.Connection) -> set[str]:
    """The conversation keys that have an open ticket."""
    rows = await db.execute_fetchall(
        """SELECT c.key FROM tickets t JOIN conversations c ON c.id = t.conversation_id
           WHERE t.status = 'open'"""
    )
    return {str(row[0]) for row in rows}


async def all_open(db: aiosqlite.Connection) -> list[Ticket]:
    async with db.execute(_SELECT + " WHERE t.status = 'open' ORDER BY t.id") as cursor:
        rows = await cursor.fetchall()
    return [_ticket(row) for row in rows]


async def close(db: aiosqlite.Connection, ticket_id: int, now: datetime) -> bool:
    """Close an open ticket; False when there is no such open ticket."""
    if not 0 < ticket_id <= _MAX_ID:
        return False
    cursor = await db.execute(
        "UPDATE tickets SET status = 'closed', closed_at = ? WHERE id = ? AND status = 'open'",
        (_timestamp(now), ticket_id),
    )
    await cursor.close()
    return cursor.rowcount == 1


async def scrub_user(db: aiosqlite.Connection, platform: str, platform_user_id: str) -> None:
    """Remove a user's messages from other people's ticket transcripts; call inside /forget.

    The user's own tickets go by cascade, but in a group chat someone else's ticket can quote
    the user. Transcript entries carry the stored message's id, which says whose it was; the
    current message of a turn has no id yet (0), and it always belongs to the ticket's owner.
    """
    async with db.execute(
        "SELECT id FROM users WHERE platform = ? AND platform_user_id = ?",
        (platform, platform_user_id),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return
    gone = int(row[0])
    async with db.execute(
        """SELECT t.id, t.conversation_id, t.transcript FROM tickets t
           WHERE t.user_id != ? AND t.conversation_id IN
               (SELECT m.conversation_id FROM messages m WHERE m.user_id = ?)""",
        (gone, gone),
    ) as cursor:
        quoting = list(await cursor.fetchall())
    for ticket_id, conversation_id, transcript in quoting:
        async with db.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND user_id = ?",
            (conversation_id, gone),
        ) as cursor:
            theirs = {int(r[0]) for r in await cursor.fetchall()}
        entries: list[dict[str, Any]] = json.loads(transcript)
        kept = [e for e in entries if int(e["id"]) not in theirs]
        if len(kept) != len(entries):
            await db.execute(
                "UPDATE tickets SET transcript = ? WHERE id = ?", (json.dumps(kept), ticket_id)
            )


async def _first(db: aiosqlite.Connection, sql: str, params: tuple[object, ...]) -> Ticket | None:
    # One round trip: the hand-off gate asks this on every turn.
    rows = list(await db.execute_fetchall(sql, params))
    return None if not rows else _ticket(rows[0])


def _ticket(row: sqlite3.Row | tuple[object, ...]) -> Ticket:
    (
        ticket_id,
        reason,
        transcript,
        opened_at,
        status,
        user_platform,
        user_id,
        display_name,
        chat_platform,
        chat_id,
        thread_id,
    ) = row
    return Ticket(
        id=int(str(ticket_id)),
        user=UserRef(str(user_platform), str(user_id), str(display_name)),
        chat=ChatRef(str(chat_platform), str(chat_id), str(thread_id)),
        reason=str(reason),
        transcript=tuple(_load(str(transcript))),
        opened_at=datetime.fromisoformat(str(opened_at)),
        status=TicketStatus(str(status)),
    )


def _dump(transcript: Iterable[StoredMessage]) -> str:
    return json.dumps(
        [
            {"id": m.id, "role": str(m.role), "text": m.text, "at": _timestamp(m.created_at)}
            for m in transcript
        ]
    )


def _load(text: str) -> Iterable[StoredMessage]:
    for entry in json.loads(text):
        yield StoredMessage(
            id=int(entry["id"]),
            role=Role(entry["role"]),
            text=str(entry["text"]),
            created_at=datetime.fromisoformat(str(entry["at"])),
        )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
