"""The SQL behind the budgets: what stored replies cost since a UTC instant.

Read-only, so ``SqliteStore`` calls these without its write lock. ``created_at`` is ISO 8601
in UTC for every reply (``+00:00``), so comparing it as text with an instant written the same
way is comparing times, and the indexes apply: ``messages_by_user`` for one user,
``messages_replies_by_time`` (migration 6) for everyone's day.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiosqlite

from core.budget.source import Spent
from core.model import UserRef


async def user_spend(
    db: aiosqlite.Connection, user: UserRef, day_start: datetime, month_start: datetime
) -> tuple[Spent, Spent]:
    """Tokens and dollars of the replies to ``user`` since each start: ``(day, month)``.

    One pass over the user's replies of the month; the day's are the later part of them
    (``day_start`` is never before ``month_start``).
    A user never stored (or forgotten) has spent nothing.
    """
    day = _instant(day_start)
    async with db.execute(
        """SELECT
               COALESCE(SUM(CASE WHEN m.created_at >= ?
                            THEN m.input_tokens + m.output_tokens END), 0),
               COALESCE(SUM(CASE WHEN m.created_at >= ? THEN m.cost_usd END), 0),
               COALESCE(SUM(m.input_tokens + m.output_tokens), 0),
               COALESCE(SUM(m.cost_usd), 0)
           FROM messages m JOIN users u ON u.id = m.user_id
           WHERE u.platform = ? AND u.platform_user_id = ?
             AND m.direction = 'out' AND m.created_at >= ?""",
        (day, day, user.platform, user.user_id, _instant(month_start)),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:  # an aggregate always returns a row; kept for the type checker
        return Spent(), Spent()
    day_tokens, day_cost, month_tokens, month_cost = row
    return _spent(day_tokens, day_cost), _spent(month_tokens, month_cost)


async def global_spend(db: aiosqlite.Connection, day_start: datetime) -> Spent:
    """Tokens and dollars of every reply since ``day_start``."""
    async with db.execute(
        """SELECT COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_usd), 0)
           FROM messages WHERE direction = 'out' AND created_at >= ?""",
        (_instant(day_start),),
    ) as cursor:
        row = await cursor.fetchone()
    return Spent() if row is None else _spent(row[0], row[1])


def _spent(tokens: object, cost: object) -> Spent:
    return Spent(int(str(tokens)), round(float(str(cost)), 8))


def _instant(moment: datetime) -> str:
    # The same form ``record_reply`` writes: ISO 8601 with an explicit +00:00 offset.
    return moment.astimezone(UTC).isoformat()
