"""The block list: kept across restarts in SQLite, checked from memory, lifted into low trust."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.admission import Admission
from core.blocks import Block, BlockList
from core.guardrails.screening import RiskLedger
from core.model import TurnOutcome
from core.ratelimit import AdmissionLimits, Gcra, SlowDownNotices
from core.ratelimit.risk import UNBLOCKED_RISK
from core.storage.sqlite import SqliteStore
from core.storage.sqlite import blocks as sql
from tests.fakes import VirtualTime, message


class WallClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FailingStore:
    """Storage that is down: every write raises."""

    async def load_blocks(self) -> list[Block]:
        return []

    async def save_block(self, block: Block) -> Block:
        raise OSError("disk I/O error")

    async def delete_block(self, user_key: str) -> bool:
        raise OSError("disk I/O error")


async def test_blocks_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "bastion.db"
    wall = WallClock()
    async with SqliteStore(path) as store:
        blocks = BlockList(store, now=wall)
        await blocks.load()
        await blocks.block("telegram:1", "spam links", by="admin:ana")
        wall.now += timedelta(minutes=5)
        await blocks.block("slack:U2", "abuse", by="admin:bo")
        await blocks.block("discord:3", "by mistake", by="admin:bo")
        assert await blocks.unblock("discord:3")

    async with SqliteStore(path) as store:
        reopened = BlockList(store)
        assert await reopened.load() == 2
        assert reopened.is_blocked("telegram:1")
        assert reopened.is_blocked("slack:U2")
        assert not reopened.is_blocked("discord:3")
        assert reopened.blocked() == [
            Block("telegram:1", "spam links", "admin:ana", datetime(2025, 3, 1, 9, 0, tzinfo=UTC)),
            Block("slack:U2", "abuse", "admin:bo", datetime(2025, 3, 1, 9, 5, tzinfo=UTC)),
        ]


async def test_blocking_again_updates_the_reason_and_keeps_the_first_time(
    store: SqliteStore,
) -> None:
    wall = WallClock()
    blocks = BlockList(store, now=wall)
    first = await blocks.block("telegram:1", "spam", by="admin:ana")
    wall.now += timedelta(days=1)
    again = await blocks.block("telegram:1", "spam and threats", by="admin:bo")

    assert again == Block("telegram:1", "spam and threats", "admin:bo", first.blocked_at)
    assert blocks.blocked() == [again]
    assert await sql.load_all(store.db) == [again]


async def test_lifting_a_block_that_is_not_there_changes_nothing(store: SqliteStore) -> None:
    ledger = RiskLedger(half_life_seconds=600, max_users=10)
    blocks = BlockList(store, risk=ledger)
    assert not await blocks.unblock("telegram:404")
    assert len(ledger) == 0


async def test_a_failed_write_raises_and_leaves_the_list_as_it_was() -> None:
    blocks = BlockList(FailingStore())
    with pytest.raises(OSError, match="disk"):
        await blocks.block("telegram:1", "spam", by="admin")
    assert not blocks.is_blocked("telegram:1")
    assert len(blocks) == 0


async def test_an_empty_user_key_is_refused(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="user_key"):
        await BlockList(store).block("", "?", by="admin")


async def test_a_block_shuts_the_user_out_at_admission_and_lifting_it_lets_them_back_slowly(
    store: SqliteStore,
) -> None:
    time = VirtualTime(1000.0)
    ledger = RiskLedger(half_life_seconds=600, max_users=100, clock=time.clock)
    blocks = BlockList(store, risk=ledger)
    admission = Admission(
        AdmissionLimits(
            Gcra(1.0, 8, max_keys=100, clock=time.clock),
            Gcra(100.0, 100, max_keys=100, clock=time.clock),
            Gcra(100.0, 100, max_keys=1, clock=time.clock),
            ledger.risk,
        ),
        SlowDownNotices(60, max_keys=100, clock=time.clock),
        blocks=blocks,
        risk=ledger,
    )

    def admitted_in_a_row(user: str) -> int:
        count = 0
        while admission.refuse(message("hi", user=user)) is None:
            count += 1
        return count

    await blocks.block("test:troll", "spam", by="admin")
    refusal = admission.refuse(message("hi", user="troll"))
    assert refusal is not None and refusal.outcome is TurnOutcome.BLOCKED

    time.now += 3600
    assert await blocks.unblock("test:troll")
    assert ledger.risk("test:troll") == pytest.approx(UNBLOCKED_RISK)
    assert admitted_in_a_row("troll") == 2  # a quarter of the burst of 8
    time.now += 4 * 600  # four half-lives: risk about 0.2 (with that burst's), 82% left
    assert admitted_in_a_row("troll") == 6
    assert admitted_in_a_row("someone") == 8  # nobody else was ever slowed
