"""Per-conversation ordering, and the gateway's intake and drain on shutdown."""

from __future__ import annotations

import asyncio
import random

from core.gateway import SHUTTING_DOWN, Gateway
from core.lanes import ConversationLanes
from core.model import Reply, ReplyKind, Turn
from tests.fakes import message


async def test_turns_of_one_conversation_run_in_arrival_order() -> None:
    finished: list[str] = []

    async def slow_at_random(turn: Turn) -> Reply:
        await asyncio.sleep(random.uniform(0, 0.005))
        finished.append(turn.message.text)
        return Reply(turn.message.text)

    gateway = Gateway(slow_at_random)
    texts = [f"m{n}" for n in range(50)]
    await asyncio.gather(*(gateway.submit(message(t, user="same")) for t in texts))
    assert finished == texts


async def test_different_conversations_do_not_wait_for_each_other() -> None:
    release = asyncio.Event()

    async def blocks_alice(turn: Turn) -> Reply:
        if turn.message.user.user_id == "alice":
            await release.wait()
        return Reply("done")

    gateway = Gateway(blocks_alice)
    alice = asyncio.create_task(gateway.submit(message("x", user="alice")))
    bob = await asyncio.wait_for(gateway.submit(message("y", user="bob")), timeout=1)
    assert bob.text == "done"
    release.set()
    await alice


async def test_idle_lanes_are_dropped() -> None:
    lanes = ConversationLanes()
    async with lanes.hold("a"), lanes.hold("b"):
        assert len(lanes) == 2
    assert len(lanes) == 0


async def test_after_stop_intake_new_messages_get_a_notice_and_running_turns_finish() -> None:
    release = asyncio.Event()

    async def waits(turn: Turn) -> Reply:
        await release.wait()
        return Reply("answered")

    gateway = Gateway(waits)
    running = asyncio.create_task(gateway.submit(message("first")))
    await asyncio.sleep(0)
    gateway.stop_intake(grace=5)

    late = await gateway.submit(message("second"))
    assert (late.kind, late.text) == (ReplyKind.NOTICE, SHUTTING_DOWN)

    assert await gateway.drain(grace=0.01) is False  # still running
    release.set()
    assert await gateway.drain(grace=1) is True
    assert (await running).text == "answered"


async def test_a_turn_still_running_when_the_grace_ends_gets_the_restart_notice() -> None:
    async def never_finishes(turn: Turn) -> Reply:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    gateway = Gateway(never_finishes)
    running = asyncio.create_task(gateway.submit(message("stuck")))
    await asyncio.sleep(0)
    gateway.stop_intake(grace=0.05)

    reply = await asyncio.wait_for(running, timeout=5)
    assert (reply.kind, reply.text) == (ReplyKind.NOTICE, SHUTTING_DOWN)
    assert await gateway.drain(grace=1) is True
