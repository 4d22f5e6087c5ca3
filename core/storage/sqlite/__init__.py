"""The embedded default: one SQLite file in WAL mode, through aiosqlite."""

from core.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
