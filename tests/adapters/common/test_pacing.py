"""The pacer, on a virtual clock: sleeping moves time on, nothing waits for real."""

from __future__ import annotations

import asyncio

import pytest

from adapters.common.pacing import Pacer, Rate, WaitTooLong
from adapters.telegram.adapter import telegram_pacer
from tests.fakes import VirtualTime


def pacer(time: VirtualTime) -> Pacer:
    """The Telegram adapter's pacer, on the virtual clock."""
    return telegram_pacer(clock=time.clock, sleep=time.sleep)


async def sent_at(time: VirtualTime, pace: Pacer, chats: list[tuple[str, bool]]) -> list[float]:
    moments = []
    for chat, group in chats:
        await pace.wait(chat, group=group)
        moments.append(round(time.now, 6))
    return moments


def most_in_a_window(moments: list[float], seconds: float) -> int:
    """The most messages in any window [t, t + seconds) that starts at a message."""
    return max(sum(start <= m < start + seconds for m in moments) for start in moments)


async def test_a_group_gets_a_short_burst_then_stays_under_twenty_a_minute() -> None:
    time = VirtualTime()
    moments = await sent_at(time, pacer(time), [("-100", True)] * 100)
    # Three at once (the chat's burst), one a second to the group's burst of five, then one
    # every four seconds.
    assert moments[:8] == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 12.0]
    assert most_in_a_window(moments, 60) <= 20
    assert most_in_a_window(moments, 1) <= 3


async def test_a_private_chat_gets_three_at_once_then_one_a_second() -> None:
    time = VirtualTime()
    moments = await sent_at(time, pacer(time), [("42", False)] * 5)
    assert moments == [0.0, 0.0, 0.0, 1.0, 2.0]


async def test_the_whole_bot_stays_under_thirty_a_second_across_chats() -> None:
    time = VirtualTime()
    chats = [(str(n), False) for n in range(300)]
    moments = await sent_at(time, pacer(time), chats)
    assert moments[:5] == [0.0] * 5
    assert moments[5] == 0.04  # then one every 1/25 s
    assert most_in_a_window(moments, 1) <= 30


async def test_a_busy_chat_does_not_hold_up_another() -> None:
    time = VirtualTime()
    pace = pacer(time)
    await sent_at(time, pace, [("42", False)] * 3)  # chat 42 used its burst
    assert await sent_at(time, pace, [("43", False)]) == [0.0]


async def test_a_message_waiting_for_its_chat_holds_no_share_of_the_overall_limit() -> None:
    time = VirtualTime()
    held = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        time.slept.append(seconds)
        await held.wait()  # time stands still while this message waits
        time.now += seconds

    pace = Pacer(
        Rate(0.1, 1),
        overall=Rate(1, 2),  # two at once for the whole bot
        clock=time.clock,
        sleep=held_sleep,
    )
    assert await pace.wait("42", group=False) == 0.0
    second_to_42 = asyncio.create_task(pace.wait("42", group=False))
    await asyncio.sleep(0)
    assert time.slept == [10.0]  # chat 42 must wait ten seconds...
    assert await pace.wait("43", group=False) == 0.0  # ...and the bot's second slot is free
    held.set()
    assert await second_to_42 == 10.0


async def test_without_an_overall_limit_only_each_chat_is_paced() -> None:
    time = VirtualTime()
    pace = Pacer(Rate(1, 1), clock=time.clock, sleep=time.sleep)
    moments = await sent_at(time, pace, [(str(n), True) for n in range(50)] + [("0", True)])
    assert moments == [0.0] * 50 + [1.0]


async def test_a_wait_longer_than_the_caller_holds_fails_at_once_saying_how_long() -> None:
    time = VirtualTime()
    pace = Pacer(Rate(1, 1), clock=time.clock, sleep=time.sleep)
    await pace.wait("42")
    with pytest.raises(WaitTooLong) as refused:
        await pace.wait("42", max_wait=0.5)
    assert refused.value.retry_after == 1.0
    assert time.slept == []  # nothing waited, and the turn it would have taken is still free
    assert await pace.wait("42", max_wait=1.0) == 1.0
