"""Users an admin has blocked: refused at admission before anything else.

Every message asks ``BlockList.is_blocked``, so the list lives in memory (a dict lookup, no
I/O); storage is its durable copy, read once at start and written through on every change.
A block is the only thing that shuts a user out: a risk score alone only slows them down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from loguru import logger

from core.clock import WallClock, utc_now
from core.logref import pseudonym
from core.ratelimit.risk import UNBLOCKED_RISK, RiskRecorder


@dataclass(frozen=True, slots=True)
class Block:
    """One blocked user: who (``UserRef.key``), why, by whom, since when."""

    user_key: str
    reason: str
    blocked_by: str
    blocked_at: datetime


class BlockStore(Protocol):
    """The durable side of the block list (``SqliteStore`` delegates to ``sqlite/blocks.py``)."""

    async def load_blocks(self) -> list[Block]:
        """Every block, oldest first."""
        ...

    async def save_block(self, block: Block) -> Block:
        """Insert or update ``block``; returns it as stored (a re-block keeps its first time)."""
        ...

    async def delete_block(self, user_key: str) -> bool:
        """Remove the user's block; False when there was none."""
        ...


class BlockList:
    """The blocked users, in memory for the per-message check and written through to storage.

    Changes go to storage first and to memory only once stored, so the list never claims a
    block that a restart would lose, and a failed write raises with nothing changed.
    ``risk`` (the ``RiskLedger``) is given ``UNBLOCKED_RISK`` for a user whose block is lifted,
    so they come back slowly; without it they come back at the full rate.
    """

    def __init__(
        self,
        store: BlockStore,
        *,
        risk: RiskRecorder | None = None,
        now: WallClock = utc_now,
    ) -> None:
        self._store = store
        self._risk = risk
        self._now = now
        self._blocks: dict[str, Block] = {}

    def __len__(self) -> int:
        return len(self._blocks)

    async def load(self) -> int:
        """Replace the list with what storage holds; call once at start. Returns the count."""
        self._blocks = {block.user_key: block for block in await self._store.load_blocks()}
        logger.info("{} blocked users loaded", len(self._blocks))
        return len(self._blocks)

    def is_blocked(self, user_key: str) -> bool:
        """True when an admin blocked ``user_key``: one dict lookup, for every message."""
        return user_key in self._blocks

    def blocked(self) -> list[Block]:
        """Every current block, oldest first."""
        return sorted(self._blocks.values(), key=lambda block: block.blocked_at)

    async def block(self, user_key: str, reason: str, by: str) -> Block:
        """Block ``user_key`` (again: the reason and admin are updated, the time kept)."""
        if not user_key:
            raise ValueError("user_key must not be empty")
        stored = await self._store.save_block(Block(user_key, reason, by, self._now()))
        self._blocks[user_key] = stored
        # The reason is an admin's free text and may name the user: not logged.
        logger.info("user {} blocked", pseudonym(user_key))
        return stored

    async def unblock(self, user_key: str) -> bool:
        """Lift the block; False when the user was not blocked (nothing else happens then)."""
        deleted = await self._store.delete_block(user_key)
        self._blocks.pop(user_key, None)  # storage is the truth; memory follows it
        if not deleted:
            return False
        if self._risk is not None:
            self._risk.record(user_key, UNBLOCKED_RISK)
        logger.info("user {} unblocked", pseudonym(user_key))
        return True
