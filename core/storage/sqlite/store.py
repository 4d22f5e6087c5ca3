"""Conversation store on one SQLite file: users, conversations, messages, hand-off tickets."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite
from loguru import logger

from core.blocks import Block
from core.budget import Spent
from core.cache.lru import BoundedCache
from core.errors import StorageError
from core.model import (
    ChatRef,
    InboxEntry,
    IncomingMessage,
    Received,
    Reply,
    Role,
    StoredMessage,
    Ticket,
    UserRef,
)
from core.storage.sqlite import blocks, inbox, spend, tickets
from core.storage.sqlite.checkpoint import WalCheckpointer
from core.storage.sqlite.migrations import migrate

MEMORY = ":memory:"

# Token count and importance of a message, stored with it (see core/context).
Weigher = Callable[[Role, str], tuple[int, float]]


class SqliteStore:
    """Owns one aiosqlite connection from ``__aenter__`` to ``__aexit__``.

    One connection serves every task. A transaction, or a write of several statements, holds
    ``_write_lock``, because it spans several awaits and another task's statement must not land
    inside it; a one-statement write only waits while the lock is held (``_locked``). The
    embedded default is one process per database file; several processes want PostgreSQL.
    """

    def __init__(self, path: Path | str, weigh: Weigher | None = None) -> None:
        self._path = str(path)
        self._weigh = weigh
        self._db: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._resources = AsyncExitStack()
        self._ids: BoundedCache[int] = BoundedCache(max_entries=100_000)
        # Conversations with an open ticket; this store is their only writer.
        self._ticketed: set[str] = set()
        self._spend_secret = b""  # read at open (core/storage/sqlite/spend.py)

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            try:
                if self._path != MEMORY:
                    Path(self._path).parent.mkdir(parents=True, exist_ok=True)
                # isolation_level=None: no implicit transactions; we BEGIN/COMMIT explicitly.
                db = await aiosqlite.connect(self._path, isolation_level=None)
                stack.push_async_callback(db.close)
                await _prepare(db, checkpoint_elsewhere=self._path != MEMORY)
                await migrate(db)
                spend_secret = await spend.prepare(db)
                ticketed = await tickets.chats_with_open_tickets(db)
                if self._path != MEMORY:
                    await stack.enter_async_context(WalCheckpointer(self._path))
            except (OSError, sqlite3.Error) as exc:
                raise StorageError(f"cannot open SQLite database {self._path!r}: {exc}") from exc
            self._db, self._spend_secret, self._ticketed = db, spend_secret, ticketed
            self._resources = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._db = None
        await self._resources.aclose()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageError("the SQLite store is not open (use it with `async with`)")
        return self._db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            db = self.db
            try:
                # Inside the try: a cancelled BEGIN still runs on aiosqlite's thread, and
                # a transaction left open would swallow every later write on this connection.
                await db.execute("BEGIN IMMEDIATE")
                yield db
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for a write that is one statement, sent before the body's first await.

        It waits only while someone holds the write lock (a transaction may be open). Otherwise
        it goes at once: aiosqlite runs statements first in, first out, so it ends before any
        BEGIN queued after it, and writes from many turns flow without waiting on each other.
        """
        if not self._write_lock.locked():
            yield self.db
            return
        async with self._write_lock:
            yield self.db

    def _weight(self, role: Role, text: str) -> tuple[int | None, float | None]:
        return self._weigh(role, text) if self._weigh else (None, None)

    async def ping(self) -> None:
        """Raises if the database cannot answer a trivial query."""
        async with self.db.execute("SELECT 1") as cursor:
            await cursor.fetchone()

    async def record_incoming(self, message: IncomingMessage) -> int:
        user_id, conversation_id = await self._ids_for(message)
        seen = message.sent_at.astimezone(UTC).isoformat()
        if message.replayed and (earlier := await self._incoming_id(message, conversation_id)):
            return earlier  # the crash came after this turn stored its message
        async with self._locked() as db:
            return await _fetch_id(
                db,
                """INSERT INTO messages (conversation_id, user_id, direction,
                                         platform_message_id, text, created_at, tokens,
                                         importance)
                   VALUES (?, ?, 'in', ?, ?, ?, ?, ?)
                   RETURNING id""",
                (
                    conversation_id,
                    user_id,
                    message.message_id,
                    message.text,
                    seen,
                    *self._weight(Role.USER, message.text),
                ),
            )

    async def _incoming_id(self, message: IncomingMessage, conversation_id: int) -> int:
        rows = list(
            await self.db.execute_fetchall(
                """SELECT id FROM messages WHERE conversation_id = ? AND direction = 'in'
                   AND platform_message_id = ? ORDER BY id DESC LIMIT 1""",
                (conversation_id, message.message_id),
            )
        )
        return int(rows[0][0]) if rows else 0

    async def record_reply(self, message: IncomingMessage, reply: Reply, latency_ms: float) -> int:
        """Stores the reply and adds its cost to the user's spend of the day, in one transaction.

        The spend counts even if the user was forgotten meanwhile: the reply was paid for.
        """
        user, chat, usage = message.user, message.chat, reply.usage
        now = datetime.now(UTC)
        costly = not usage.is_free
        # A free reply (rules, cache, commands) has no spend to add: one statement, no
        # transaction, saving the BEGIN and COMMIT round trips on most turns.
        guard = self._transaction() if costly else self._locked()
        async with guard as db:
            # INSERT ... SELECT by key: if the user was forgotten meanwhile, nothing is stored.
            rows = await db.execute_fetchall(
                """INSERT INTO messages (conversation_id, user_id, direction, text, created_at,
                                         kind, outcome, provider, model, input_tokens,
                                         output_tokens, cost_usd, latency_ms, trail, tokens,
                                         importance)
                   SELECT c.id, u.id, 'out', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
                   FROM conversations c, users u
                   WHERE c.key = ? AND u.platform = ? AND u.platform_user_id = ?
                   RETURNING id""",
                (
                    reply.text,
                    now.isoformat(),
                    reply.kind,
                    reply.outcome,
                    reply.provider,
                    reply.model,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cost_usd,
                    latency_ms,
                    " ".join(reply.trail),
                    *self._weight(Role.ASSISTANT, reply.text),
                    chat.key,
                    user.platform,
                    user.user_id,
                ),
            )
            if costly:
                await spend.add(db, spend.user_ref(self._spend_secret, user), usage, now)
        stored = list(rows)
        return int(stored[0][0]) if stored else 0

    def _cached_ids(self, message: IncomingMessage) -> tuple[int, int] | None:
        user_id = self._ids.get(_user_key(message.user))
        conversation_id = self._ids.get(message.chat.key)
        if user_id is None or conversation_id is None:
            return None
        return user_id, conversation_id

    async def _ids_for(self, message: IncomingMessage) -> tuple[int, int]:
        """Row ids of the message's user and conversation, created on first sight.

        Cached, because looking them up would triple the round trips of every turn; only
        ``forget_user`` deletes these rows, and it evicts what it deletes.
        """
        if (ids := self._cached_ids(message)) is not None:
            return ids
        user, chat = message.user, message.chat
        seen = message.sent_at.astimezone(UTC).isoformat()
        # Two upserts, each atomic by itself and idempotent, so no transaction around them: a
        # burst of new users then costs two statements each instead of four round trips.
        async with self._write_lock:
            db = self.db
            user_id = await _fetch_id(
                db,
                """INSERT INTO users (platform, platform_user_id, display_name, first_seen)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (platform, platform_user_id)
                   DO UPDATE SET display_name = excluded.display_name
                   RETURNING id""",
                (user.platform, user.user_id, user.display_name, seen),
            )
            conversation_id = await _fetch_id(
                db,
                """INSERT INTO conversations (key, platform, chat_id, thread_id)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET key = excluded.key
                   RETURNING id""",
                (chat.key, chat.platform, chat.chat_id, chat.thread_id),
            )
        self._ids.put(_user_key(user), user_id)
        self._ids.put(chat.key, conversation_id)
        return user_id, conversation_id

    async def context(self, chat: ChatRef, limit: int) -> tuple[StoredMessage, ...]:
        rows = await self.db.execute_fetchall(
            """SELECT m.id, m.direction, m.text, m.created_at, m.tokens, m.importance
               FROM messages m JOIN conversations c ON c.id = m.conversation_id
               WHERE c.key = ? AND m.id > c.context_after AND m.outcome != 'failed'
               ORDER BY m.id DESC LIMIT ?""",
            (chat.key, limit),
        )
        return tuple(_stored(row) for row in reversed(list(rows)))

    async def history(self, chat: ChatRef) -> tuple[StoredMessage, ...]:
        """Every stored message of a conversation, reset or not, oldest first."""
        async with self.db.execute(
            """SELECT m.id, m.direction, m.text, m.created_at, m.tokens, m.importance
               FROM messages m JOIN conversations c ON c.id = m.conversation_id
               WHERE c.key = ? ORDER BY m.id""",
            (chat.key,),
        ) as cursor:
            rows = await cursor.fetchall()
        return tuple(_stored(row) for row in rows)

    async def reset_context(self, chat: ChatRef) -> None:
        async with self._write_lock:
            await self.db.execute(
                """UPDATE conversations
                   SET context_after = (SELECT COALESCE(MAX(id), 0) FROM messages)
                   WHERE key = ?""",
                (chat.key,),
            )

    async def forget_user(self, user: UserRef) -> int:
        """Deletes the user's messages, user row, tickets and inbox entries, and conversations
        left empty; returns how many messages went.

        Their rows in ``spend`` stay: a sum of tokens and dollars per UTC day, under a keyed
        pseudonym, with no text and no id. Deleting them would let anyone reset their budgets
        (and lower the bot's day total) by sending /forget.
        """
        async with self._transaction() as db:
            async with db.execute(
                """SELECT COUNT(m.id) FROM users u LEFT JOIN messages m ON m.user_id = u.id
                   WHERE u.platform = ? AND u.platform_user_id = ?""",
                (user.platform, user.user_id),
            ) as cursor:
                row = await cursor.fetchone()
            removed = int(row[0]) if row else 0
            async with db.execute(
                """SELECT DISTINCT m.conversation_id FROM messages m JOIN users u
                   ON u.id = m.user_id WHERE u.platform = ? AND u.platform_user_id = ?""",
                (user.platform, user.user_id),
            ) as cursor:
                conversations = [(int(r[0]),) for r in await cursor.fetchall()]
            self._ids.clear()  # rare; simpler and safer than tracking each deleted key
            await tickets.scrub_user(db, user.platform, user.user_id)
            await inbox.forget_user(db, user.key)
            # Messages and tickets go with the user (ON DELETE CASCADE); conversations left
            # empty go too, since their keys can carry the user's id (a DM's chat id often is
            # the user id), unless someone else's ticket still needs them.
            await db.execute(
                "DELETE FROM users WHERE platform = ? AND platform_user_id = ?",
                (user.platform, user.user_id),
            )
            await db.executemany(
                """DELETE FROM conversations WHERE id = ?
                   AND NOT EXISTS
                       (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id)
                   AND NOT EXISTS
                       (SELECT 1 FROM tickets t WHERE t.conversation_id = conversations.id)""",
                conversations,
            )
        self._ticketed = await tickets.chats_with_open_tickets(self.db)
        # The deleted rows' text still sits in WAL frames until a checkpoint rewrites the file;
        # TRUNCATE empties the WAL, so nothing of the user stays on disk.
        await self._checkpoint_truncate()
        return removed

    async def open_ticket(
        self, user: UserRef, chat: ChatRef, reason: str, transcript: Sequence[StoredMessage]
    ) -> Ticket:
        # /human can be someone's very first message, before any row of theirs exists.
        first_sight = IncomingMessage("", user, chat, "", datetime.now(UTC))
        user_id, conversation_id = await self._ids_for(first_sight)
        async with self._transaction() as db:
            ticket = await tickets.open_or_existing(
                db,
                user_id=user_id,
                conversation_id=conversation_id,
                reason=reason,
                transcript=transcript,
                now=datetime.now(UTC),
            )
        self._ticketed.add(chat.key)
        return ticket

    async def open_ticket_for(self, chat: ChatRef) -> Ticket | None:
        # The hand-off gate asks on every turn and almost every answer is "none": the set of
        # conversations with an open ticket answers that without a query.
        if chat.key not in self._ticketed:
            return None
        return await tickets.open_for(self.db, chat.key)

    async def open_tickets(self) -> list[Ticket]:
        return await tickets.all_open(self.db)

    async def close_ticket(self, ticket_id: int) -> bool:
        async with self._write_lock:
            closed = await tickets.close(self.db, ticket_id, datetime.now(UTC))
            if closed:  # rare: reading the set again is simpler than tracking ticket ids
                self._ticketed = await tickets.chats_with_open_tickets(self.db)
        return closed

    # Users an admin blocked (core/blocks.py keeps them in memory for the per-message check).

    async def load_blocks(self) -> list[Block]:
        return await blocks.load_all(self.db)

    async def save_block(self, block: Block) -> Block:
        async with self._write_lock:
            return await blocks.save(self.db, block)

    async def delete_block(self, user_key: str) -> bool:
        async with self._write_lock:
            return await blocks.delete(self.db, user_key)

    # What replies cost, for the budgets (core/storage/sqlite/spend.py).

    async def user_spend(
        self, user: UserRef, day_start: datetime, month_start: datetime
    ) -> tuple[Spent, Spent]:
        return await spend.user_spend(
            self.db, user, day_start, month_start, secret=self._spend_secret
        )

    async def global_spend(self, day_start: datetime) -> Spent:
        return await spend.global_spend(self.db, day_start)

    async def purge_spend(self, before: datetime) -> int:
        async with self._write_lock:
            return await spend.purge(self.db, before)

    # The durable inbox (core/storage/sqlite/inbox.py has the why of each step).

    async def receive(self, message: IncomingMessage) -> Received:
        # One write; the read that may follow it is safe inside anyone's transaction.
        async with self._locked() as db:
            return await inbox.receive(db, message, datetime.now(UTC))

    async def answered(self, entry_id: int, reply: Reply) -> None:
        async with self._locked() as db:
            await inbox.answered(db, entry_id, reply, datetime.now(UTC))

    async def done(self, entry_id: int) -> None:
        async with self._locked() as db:
            await inbox.done(db, entry_id, datetime.now(UTC))

    async def discard(self, entry_id: int) -> None:
        async with self._write_lock:
            await inbox.discard(self.db, entry_id)

    async def unfinished(self) -> list[InboxEntry]:
        async with self._write_lock:
            return await inbox.unfinished(self.db, datetime.now(UTC))

    async def newest(self, limit: int) -> list[tuple[str, str, str, int]]:
        return await inbox.newest(self.db, limit)

    async def replaying(self, entry_id: int) -> None:
        async with self._write_lock:
            await inbox.replaying(self.db, entry_id)

    async def held_replies(self, chat: ChatRef) -> list[Reply]:
        async with self._transaction() as db:
            return await inbox.held(db, chat.key, datetime.now(UTC))

    async def purge_inbox(self, older_than: datetime) -> int:
        async with self._write_lock:
            return await inbox.purge(self.db, older_than)

    async def _checkpoint_truncate(self) -> None:
        async with self._write_lock:
            try:
                async with self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                    row = await cursor.fetchone()
            except sqlite3.Error as exc:
                logger.warning("WAL checkpoint after /forget failed: {}", exc)
                return
        if row is not None and row[0]:
            logger.warning("WAL checkpoint after /forget was busy; the next one will finish it")


async def _rollback(db: aiosqlite.Connection) -> None:
    # OperationalError: the BEGIN never ran, or the failed COMMIT already ended the transaction.
    with contextlib.suppress(sqlite3.OperationalError):
        await db.execute("ROLLBACK")


async def _prepare(db: aiosqlite.Connection, *, checkpoint_elsewhere: bool) -> None:
    await db.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable across application crashes in WAL mode; only a power cut can lose
    # the last transactions, which is the usual trade for a chat history.
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute("PRAGMA foreign_keys = ON")
    await db.execute("PRAGMA busy_timeout = 5000")
    # /forget must not leave deleted text in free pages of the file.
    await db.execute("PRAGMA secure_delete = ON")
    if checkpoint_elsewhere:
        # Checkpoints run on their own connection (see checkpoint.py), not inside a commit.
        await db.execute("PRAGMA wal_autocheckpoint = 0")


async def _fetch_id(db: aiosqlite.Connection, sql: str, params: tuple[object, ...]) -> int:
    # One round trip to the database thread (execute, fetch and close would be three).
    rows = list(await db.execute_fetchall(sql, params))
    if not rows:
        raise StorageError("insert returned no id")
    return int(rows[0][0])


def _user_key(user: UserRef) -> str:
    return f"user:{user.key}"


def _stored(row: sqlite3.Row | tuple[object, ...]) -> StoredMessage:
    message_id, direction, text, created_at, tokens, importance = row
    return StoredMessage(
        id=int(str(message_id)),
        role=Role.USER if direction == "in" else Role.ASSISTANT,
        text=str(text),
        created_at=datetime.fromisoformat(str(created_at)),
        tokens=None if tokens is None else int(str(tokens)),
        importance=None if importance is None else float(str(importance)),
    )
