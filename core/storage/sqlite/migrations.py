"""Versioned schema migrations, applied in order at start-up.

Append new steps; never edit a step that has shipped, since databases in the field already ran it.
The applied version is kept in ``PRAGMA user_version``, which SQLite stores in the file header.
"""

from __future__ import annotations

import aiosqlite

from core.errors import StorageError

MIGRATIONS: tuple[str, ...] = (
    # 1: users, conversations and messages in both directions.
    """
    CREATE TABLE users (
        id               INTEGER PRIMARY KEY,
        platform         TEXT NOT NULL,
        platform_user_id TEXT NOT NULL,
        display_name     TEXT NOT NULL DEFAULT '',
        first_seen       TEXT NOT NULL,
        UNIQUE (platform, platform_user_id)
    );
    CREATE TABLE conversations (
        id            INTEGER PRIMARY KEY,
        key           TEXT NOT NULL UNIQUE,
        platform      TEXT NOT NULL,
        chat_id       TEXT NOT NULL,
        thread_id     TEXT NOT NULL DEFAULT '',
        -- /reset moves this past the newest message: older ones stay stored but leave the context.
        context_after INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE messages (
        id                  INTEGER PRIMARY KEY,
        conversation_id     INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        -- For a reply, the user it answered, so /forget removes both sides of the exchange.
        user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        direction           TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        platform_message_id TEXT NOT NULL DEFAULT '',
        text                TEXT NOT NULL,
        created_at          TEXT NOT NULL,
        kind                TEXT NOT NULL DEFAULT '',
        outcome             TEXT NOT NULL DEFAULT '',
        provider            TEXT NOT NULL DEFAULT '',
        model               TEXT NOT NULL DEFAULT '',
        input_tokens        INTEGER NOT NULL DEFAULT 0,
        output_tokens       INTEGER NOT NULL DEFAULT 0,
        cost_usd            REAL NOT NULL DEFAULT 0,
        latency_ms          REAL
    );
    CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
    CREATE INDEX messages_by_user ON messages (user_id);
    """,
    # 2: hand-off tickets, a conversation handed to people from the team.
    """
    CREATE TABLE tickets (
        -- AUTOINCREMENT: people refer to tickets by number, so a number is never reused,
        -- not even after /forget deleted the newest ticket.
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        reason          TEXT NOT NULL,
        -- A copy of the last messages as a JSON array of {id, role, text, at}: what the people
        -- on duty read first, even after /reset moved the conversation's context on.
        transcript      TEXT NOT NULL DEFAULT '[]',
        opened_at       TEXT NOT NULL,
        closed_at       TEXT,
        status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed'))
    );
    -- At most one open ticket per conversation; also the index the hand-off gate reads per turn.
    CREATE UNIQUE INDEX tickets_one_open_per_conversation
        ON tickets (conversation_id) WHERE status = 'open';
    -- For the cascades: deleting a user or a conversation looks its tickets up by these.
    CREATE INDEX tickets_by_conversation ON tickets (conversation_id);
    CREATE INDEX tickets_by_user ON tickets (user_id);
    """,
    # 3: the fallback ladder's path to each reply ("openai:timeout anthropic:answered").
    """
    ALTER TABLE messages ADD COLUMN trail TEXT NOT NULL DEFAULT '';
    """,
    # 4: each message's token count and importance, worked out once when it is stored, so
    # fitting a long history to the token budget never re-reads or re-scores old messages.
    """
    ALTER TABLE messages ADD COLUMN tokens INTEGER;
    ALTER TABLE messages ADD COLUMN importance REAL;
    """,
    # 5: the durable inbox. A message is written here before the platform is told it arrived,
    # and stays until its reply is sent: a crash replays what is unfinished, and a platform's
    # second delivery of the same message id finds its row and is not answered twice.
    """
    CREATE TABLE inbox (
        id          INTEGER PRIMARY KEY,
        platform    TEXT NOT NULL,
        chat_key    TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        user_key    TEXT NOT NULL,
        -- The whole message as JSON, emptied once it is done (nothing kept longer than needed).
        payload     TEXT NOT NULL,
        received_at TEXT NOT NULL,
        -- pending: not answered yet; answered: the reply is ready but not sent (or held for
        -- the client to collect); done: sent, kept only to recognise a late duplicate.
        state       TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'answered', 'done')),
        reply       TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        finished_at TEXT,
        UNIQUE (platform, chat_key, message_id)
    );
    CREATE INDEX inbox_unfinished ON inbox (state, id) WHERE state != 'done';
    CREATE INDEX inbox_by_user ON inbox (user_key);
    CREATE INDEX inbox_done_at ON inbox (finished_at) WHERE state = 'done';
    """,
    # 6: users an admin blocked, refused before anything else until unblocked; and an index
    # for the budgets, which sum what the replies of a day cost.
    """
    CREATE TABLE blocks (
        user_key   TEXT PRIMARY KEY,
        reason     TEXT NOT NULL DEFAULT '',
        blocked_by TEXT NOT NULL DEFAULT '',
        blocked_at TEXT NOT NULL
    );
    CREATE INDEX messages_replies_by_time ON messages (created_at) WHERE direction = 'out';
    """,
    # 7: what replies cost, per user and UTC day, apart from the messages: /forget deletes
    # the messages, and a budget must not start afresh because of it. ``user_ref`` is an
    # HMAC of the user's key under the secret kept in ``meta`` (generated on first open), so
    # this table carries neither text nor an id. The back-fill from the stored replies needs
    # that HMAC, which SQL cannot compute: the marker row asks the open path to do it once
    # (core/storage/sqlite/spend.py ``prepare``). The budgets no longer read ``messages``, so
    # migration 6's index on replies goes.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE spend (
        user_ref TEXT NOT NULL,
        day      TEXT NOT NULL,  -- UTC date, YYYY-MM-DD
        tokens   INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (user_ref, day)
    ) WITHOUT ROWID;
    CREATE INDEX spend_by_day ON spend (day);
    INSERT INTO meta (key, value) VALUES ('spend_backfill', 'pending');
    DROP INDEX messages_replies_by_time;
    """,
)


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the schema up to date; returns the version now in force."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    if current > len(MIGRATIONS):
        raise StorageError(
            f"database schema is version {current}, newer than this Bastion ({len(MIGRATIONS)})"
        )
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        # executescript commits first, so each step runs in its own explicit transaction.
        await db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
    return len(MIGRATIONS)
