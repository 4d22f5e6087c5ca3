"""The SQL behind the block list (``blocks`` table, migration 6); ``SqliteStore`` delegates here.

``user_key`` is ``UserRef.key``, not a reference to ``users``: a block must outlive ``/forget``
and can name someone who never wrote to the bot yet.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import aiosqlite

from core.blocks import Block
from core.errors import StorageError

_COLUMNS = "user_key, reason, blocked_by, blocked_at"


async def load_all(db: aiosqlite.Connection) -> list[Block]:
    """Every block, oldest first."""
    async with db.execute(
        f"SELECT {_COLUMNS} FROM blocks ORDER BY blocked_at, user_key"  # noqa: S608 (a constant)
    ) as cursor:
        rows = await cursor.fetchall()
    return [_block(row) for row in rows]


async def save(db: aiosqlite.Connection, block: Block) -> Block:
    """Insert or update one block; a re-block updates the reason and admin, keeps the time."""
    async with db.execute(
        f"""INSERT INTO blocks ({_COLUMNS}) VALUES (?, ?, ?, ?)
            ON CONFLICT (user_key) DO UPDATE
            SET reason = excluded.reason, blocked_by = excluded.blocked_by
            RETURNING {_COLUMNS}""",  # noqa: S608 (a constant)
        (block.user_key, block.reason, block.blocked_by, _timestamp(block.blocked_at)),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise StorageError("block upsert returned no row")
    return _block(row)


async def delete(db: aiosqlite.Connection, user_key: str) -> bool:
    """Remove the user's block; False when there was none."""
    cursor = await db.execute("DELETE FROM blocks WHERE user_key = ?", (user_key,))
    await cursor.close()
    return cursor.rowcount == 1


def _block(row: sqlite3.Row | tuple[object, ...]) -> Block:
    user_key, reason, blocked_by, blocked_at = row
    return Block(
        user_key=str(user_key),
        reason=str(reason),
        blocked_by=str(blocked_by),
        blocked_at=datetime.fromisoformat(str(blocked_at)),
    )


def _timestamp(moment: datetime) -> str:
    # Fixed-width UTC text sorts in time order, which ``load_all`` relies on.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
