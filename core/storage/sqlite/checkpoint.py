"""Moves the WAL into the database file on its own connection, off the path of a turn.

SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so one
unlucky turn pays for copying a thousand pages: that was most of the pipeline's p99 in
``bench/pipeline.py``. Here the store's connection has auto-checkpoint off, and this task runs
PASSIVE checkpoints (which never block writers or readers) on a second connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from types import TracebackType
from typing import Self

import aiosqlite
from loguru import logger


class WalCheckpointer:
    """Checkpoints every ``interval`` seconds until closed."""

    def __init__(self, path: str, interval: float = 0.5) -> None:
        self._path = path
        self._interval = interval
        self._db: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._db = await aiosqlite.connect(self._path, isolation_level=None)
        self._task = asyncio.create_task(self._run(self._db), name="sqlite-wal-checkpoint")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._db is not None:
            # A last full pass so a clean shutdown leaves a small WAL behind.
            await self.checkpoint("TRUNCATE")
            await self._db.close()
            self._db = None

    async def checkpoint(self, mode: str = "PASSIVE") -> None:
        if self._db is None:
            return
        try:
            await self._db.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error as exc:  # busy or locked: the next pass will catch up
            logger.debug("WAL checkpoint skipped: {}", exc)

    async def _run(self, db: aiosqlite.Connection) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except Exception:  # keep going: without this task nothing bounds the WAL
                logger.exception("WAL checkpoint failed")
