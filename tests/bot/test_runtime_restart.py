"""What a start does with what the last run left, however long ago that was."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing

from bot.runtime import open_runtime
from bot.settings import Settings
from core.storage.sqlite import SqliteStore
from tests.fakes import message


async def test_a_message_left_by_a_run_two_days_ago_is_still_answered(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    left = message("when are you open?", platform="web")
    async with SqliteStore(settings.sqlite_path) as store:
        await store.receive(left)
    with closing(sqlite3.connect(settings.sqlite_path)) as db, db:
        # The bot was down for two days: longer than the inbox keeps finished rows.
        db.execute("UPDATE inbox SET received_at = datetime('now', '-2 days')")

    async with open_runtime(settings) as runtime:
        for _ in range(200):
            if held := await runtime.gateway.held_replies(left.chat):
                break
            await asyncio.sleep(0.025)
    assert [reply.outcome for reply in held] == ["answered"]
    assert "open" in held[0].text.lower()
