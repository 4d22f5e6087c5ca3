"""The SQL behind the budgets: what replies cost, per user and UTC day (migration 7).

Spend is kept in its own aggregate, ``spend``, not summed from ``messages``: ``/forget``
deletes a user's messages, and a budget summed from them would start afresh after a restart
(and the bot's day would lose that user's share). ``spend`` carries no message text and no
user id, only ``user_ref``, an HMAC-SHA256 of the user's key under a random secret kept in the
``meta`` table, so ``/forget`` leaves it alone. Anyone with the whole file can still test
whether a given id spent something (the secret is in the same file); the table alone names
nobody, and nothing in it maps back to an id.

Days are UTC dates (``YYYY-MM-DD``), which compare as text; a period start is a UTC midnight
(core/budget/periods.py), so its date is where its rows begin.

Reads take no write lock; ``add`` runs inside the store's write transaction of the reply.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

import aiosqlite

from core.budget.source import Spent
from core.errors import StorageError
from core.model import Usage, UserRef

_KEY_ROW = "spend_secret"  # the meta row holding the pseudonyms' HMAC key
_BACKFILL = "spend_backfill"


async def prepare(db: aiosqlite.Connection) -> bytes:
    """The database's pseudonym secret, created on first open; back-fills once after migrating.

    Runs in the open path, before the store serves anything. The back-fill sums the replies
    still in ``messages`` into ``spend``, then removes migration 7's marker in the same
    transaction: a crash part-way leaves the marker, and the next open does it again.
    """
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
            (_KEY_ROW, secrets.token_hex(32)),
        )
        key = await _read_secret(db)
        async with db.execute("SELECT 1 FROM meta WHERE key = ?", (_BACKFILL,)) as cursor:
            pending = await cursor.fetchone() is not None
        if pending:
            await _backfill(db, key)
            await db.execute("DELETE FROM meta WHERE key = ?", (_BACKFILL,))
        await db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.OperationalError):
            await db.execute("ROLLBACK")
        raise
    return key


def user_ref(secret: bytes, user: UserRef) -> str:
    """The pseudonym ``spend`` files a user's rows under: stable for one database file."""
    return hmac.new(secret, user.key.encode(), hashlib.sha256).hexdigest()


def utc_day(moment: datetime) -> str:
    """The UTC date ``moment`` falls on, as ``spend.day`` stores it."""
    return moment.astimezone(UTC).date().isoformat()


async def add(db: aiosqlite.Connection, ref: str, usage: Usage, at: datetime) -> None:
    """Count ``usage`` for the user ``ref`` on the UTC day of ``at``; nothing if it is zero."""
    if usage.is_free:
        return
    tokens = usage.input_tokens + usage.output_tokens
    await db.execute(
        """INSERT INTO spend (user_ref, day, tokens, cost_usd) VALUES (?, ?, ?, ?)
           ON CONFLICT (user_ref, day) DO UPDATE
           SET tokens = tokens + excluded.tokens, cost_usd = cost_usd + excluded.cost_usd""",
        (ref, utc_day(at), tokens, usage.cost_usd),
    )


async def user_spend(
    db: aiosqlite.Connection,
    user: UserRef,
    day_start: datetime,
    month_start: datetime,
    *,
    secret: bytes | None = None,
) -> tuple[Spent, Spent]:
    """Tokens and dollars of the replies to ``user`` since each start: ``(day, month)``.

    One range over the user's rows of the month (the primary key); the day's are the later
    part of them (``day_start`` is never before ``month_start``). ``secret`` spares reading
    it when the caller holds it. A user never answered has spent nothing; a forgotten one
    keeps what they spent.
    """
    key = secret if secret is not None else await _read_secret(db)
    day = utc_day(day_start)
    async with db.execute(
        """SELECT COALESCE(SUM(CASE WHEN day >= ? THEN tokens END), 0),
                  COALESCE(SUM(CASE WHEN day >= ? THEN cost_usd END), 0),
                  COALESCE(SUM(tokens), 0),
                  COALESCE(SUM(cost_usd), 0)
           FROM spend WHERE user_ref = ? AND day >= ?""",
        (day, day, user_ref(key, user), utc_day(month_start)),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:  # an aggregate always returns a row; kept for the type checker
        return Spent(), Spent()
    day_tokens, day_cost, month_tokens, month_cost = row
    return _spent(day_tokens, day_cost), _spent(month_tokens, month_cost)


async def global_spend(db: aiosqlite.Connection, day_start: datetime) -> Spent:
    """Tokens and dollars of every reply since ``day_start`` (index ``spend_by_day``)."""
    async with db.execute(
        """SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost_usd), 0)
           FROM spend WHERE day >= ?""",
        (utc_day(day_start),),
    ) as cursor:
        row = await cursor.fetchone()
    return Spent() if row is None else _spent(row[0], row[1])


async def purge(db: aiosqlite.Connection, before: datetime) -> int:
    """Delete the rows of UTC days before ``before``'s; returns how many went.

    No budget looks further back than the current month, so about 13 months kept is ample
    (and leaves a year to compare against); the caller holds the write lock.
    """
    async with db.execute("DELETE FROM spend WHERE day < ?", (utc_day(before),)) as cursor:
        return cursor.rowcount


async def _read_secret(db: aiosqlite.Connection) -> bytes:
    async with db.execute("SELECT value FROM meta WHERE key = ?", (_KEY_ROW,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise StorageError("the spend secret is missing (was the store opened?)")
    return bytes.fromhex(str(row[0]))


async def _backfill(db: aiosqlite.Connection, secret: bytes) -> None:
    # date() turns each ISO timestamp into its UTC date, whatever offset it was written with;
    # a timestamp it cannot read (none that Bastion wrote) is left out rather than fail the open.
    async with db.execute(
        """SELECT u.platform, u.platform_user_id, date(m.created_at),
                  SUM(m.input_tokens + m.output_tokens), SUM(m.cost_usd)
           FROM messages m JOIN users u ON u.id = m.user_id
           WHERE m.direction = 'out' AND date(m.created_at) IS NOT NULL
           GROUP BY u.id, date(m.created_at)
           HAVING SUM(m.input_tokens + m.output_tokens) != 0 OR SUM(m.cost_usd) != 0"""
    ) as cursor:
        rows: Iterable[sqlite3.Row] = await cursor.fetchall()
    await db.executemany(
        """INSERT INTO spend (user_ref, day, tokens, cost_usd) VALUES (?, ?, ?, ?)
           ON CONFLICT (user_ref, day) DO UPDATE
           SET tokens = excluded.tokens, cost_usd = excluded.cost_usd""",
        [
            (user_ref(secret, UserRef(str(platform), str(user_id))), str(day), tokens, cost)
            for platform, user_id, day, tokens, cost in rows
        ],
    )


def _spent(tokens: object, cost: object) -> Spent:
    return Spent(int(str(tokens)), round(float(str(cost)), 8))
