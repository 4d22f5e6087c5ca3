"""FairLanes: FIFO per key, round robin across keys, one holder per key, a bounded backlog."""

from __future__ import annotations

import asyncio

import pytest

from core.lanes import FairLanes


async def take_now(lanes: FairLanes[str]) -> tuple[str, str]:
    """A take that must not wait: the item is already there."""
    return await asyncio.wait_for(lanes.take(), timeout=1)


async def drain_one_at_a_time(lanes: FairLanes[str], count: int) -> list[str]:
    """Take, release, take, ...: as one worker would."""
    taken: list[str] = []
    for _ in range(count):
        key, item = await take_now(lanes)
        taken.append(item)
        lanes.release(key)
    return taken


async def assert_waits(task: asyncio.Task[tuple[str, str]]) -> None:
    """``task`` is still blocked: nothing is there for it to take."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), timeout=0.05)
    assert not task.done()


def test_max_backlog_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FairLanes[str](0)


async def test_items_of_one_key_come_out_in_arrival_order() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    for i in range(1, 5):
        assert lanes.put("a", f"a{i}")

    assert await drain_one_at_a_time(lanes, 4) == ["a1", "a2", "a3", "a4"]
    assert len(lanes) == 0
    assert lanes.lanes == 0


@pytest.mark.parametrize(
    ("arrivals", "served"),
    [
        ("A1 A2 A3 A4 A5 B1", "A1 B1 A2 A3 A4 A5"),  # a flood of A: B waits one turn only
        ("A1 A2 A3 B1 B2 C1", "A1 B1 C1 A2 B2 A3"),  # three keys take turns
    ],
)
async def test_keys_are_served_round_robin(arrivals: str, served: str) -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    for item in arrivals.split():
        lanes.put(item[0], item)  # the key is the item's letter

    assert await drain_one_at_a_time(lanes, 6) == served.split()


async def test_a_held_key_is_not_handed_out_again_before_release() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    lanes.put("a", "a1")
    lanes.put("a", "a2")

    first = asyncio.create_task(lanes.take())
    second = asyncio.create_task(lanes.take())
    assert await asyncio.wait_for(asyncio.shield(first), timeout=1) == ("a", "a1")
    await assert_waits(second)
    assert len(lanes) == 1

    lanes.release("a")

    assert await asyncio.wait_for(second, timeout=1) == ("a", "a2")
    lanes.release("a")
    assert lanes.lanes == 0


async def test_a_put_to_a_held_key_waits_for_its_release() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    lanes.put("a", "a1")
    key, _ = await take_now(lanes)

    lanes.put("a", "a2")
    waiting = asyncio.create_task(lanes.take())
    await assert_waits(waiting)

    lanes.release(key)
    assert await asyncio.wait_for(waiting, timeout=1) == ("a", "a2")


async def test_another_key_is_served_while_one_is_held() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    lanes.put("a", "a1")
    lanes.put("a", "a2")
    lanes.put("b", "b1")

    assert await take_now(lanes) == ("a", "a1")
    assert await take_now(lanes) == ("b", "b1")
    waiting = asyncio.create_task(lanes.take())
    await assert_waits(waiting)

    lanes.release("a")
    assert await asyncio.wait_for(waiting, timeout=1) == ("a", "a2")


async def test_put_refuses_past_the_backlog_and_force_bypasses_it() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=2)

    assert lanes.put("a", "a1") is True
    assert lanes.put("b", "b1") is True
    assert lanes.put("c", "c1") is False
    assert lanes.put("a", "a2") is False
    assert len(lanes) == 2
    assert lanes.lanes == 2

    assert lanes.put("c", "c1", force=True) is True
    assert lanes.put("a", "a2", force=True) is True
    assert len(lanes) == 4
    assert lanes.lanes == 3
    assert lanes.put("d", "d1") is False

    assert await drain_one_at_a_time(lanes, 4) == ["a1", "b1", "c1", "a2"]


async def test_taking_frees_room_in_the_backlog() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=1)
    lanes.put("a", "a1")
    assert lanes.put("b", "b1") is False

    key, _ = await take_now(lanes)

    # The held item no longer counts against the bound, even before release.
    assert lanes.put("b", "b1") is True
    lanes.release(key)
    assert await drain_one_at_a_time(lanes, 1) == ["b1"]


async def test_len_counts_waiting_items_only() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    assert len(lanes) == 0
    lanes.put("a", "a1")
    lanes.put("a", "a2")
    lanes.put("b", "b1")
    assert len(lanes) == 3

    key, _ = await take_now(lanes)
    assert len(lanes) == 2
    lanes.release(key)
    assert len(lanes) == 2

    await drain_one_at_a_time(lanes, 2)
    assert len(lanes) == 0


async def test_an_idle_lane_is_dropped_after_release() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    lanes.put("a", "a1")
    assert lanes.lanes == 1

    key, _ = await take_now(lanes)
    # Held, with nothing waiting: the lane still exists while its item runs.
    assert lanes.lanes == 1
    lanes.release(key)

    assert lanes.lanes == 0
    assert len(lanes) == 0


async def test_a_dropped_lane_comes_back_on_the_next_put() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    lanes.put("a", "a1")
    await drain_one_at_a_time(lanes, 1)
    assert lanes.lanes == 0

    lanes.put("a", "a2")

    assert lanes.lanes == 1
    assert await drain_one_at_a_time(lanes, 1) == ["a2"]
    assert lanes.lanes == 0


async def test_release_of_an_unknown_key_is_harmless() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)

    lanes.release("never-seen")

    assert lanes.lanes == 0
    lanes.put("a", "a1")
    assert await drain_one_at_a_time(lanes, 1) == ["a1"]


async def test_take_all_waiting_empties_every_lane_but_not_the_held_items() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    lanes.put("a", "a1")
    lanes.put("a", "a2")
    lanes.put("a", "a3")
    lanes.put("b", "b1")
    lanes.put("c", "c1")
    held_key, held_item = await take_now(lanes)
    assert (held_key, held_item) == ("a", "a1")

    waiting = lanes.take_all_waiting()

    assert sorted(waiting) == ["a2", "a3", "b1", "c1"]
    assert len(lanes) == 0
    # Only the held lane is left, and only until its release.
    assert lanes.lanes == 1
    lanes.release(held_key)
    assert lanes.lanes == 0

    # Nothing is handed out again: not the drained items, not the held one.
    blocked = asyncio.create_task(lanes.take())
    await assert_waits(blocked)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked


async def test_take_all_waiting_keeps_per_lane_order() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10)
    for item in ("a1", "b1", "a2", "b2", "a3"):
        lanes.put(item[0], item)

    waiting = lanes.take_all_waiting()

    assert [i for i in waiting if i.startswith("a")] == ["a1", "a2", "a3"]
    assert [i for i in waiting if i.startswith("b")] == ["b1", "b2"]
    assert lanes.lanes == 0


async def test_puts_after_take_all_waiting_work_normally() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=2)
    lanes.put("a", "a1")
    lanes.put("a", "a2")
    held_key, _ = await take_now(lanes)
    lanes.put("b", "b1")
    assert lanes.put("c", "c1") is False  # full: a2 and b1 wait

    assert sorted(lanes.take_all_waiting()) == ["a2", "b1"]

    # The bound counts from zero again.
    assert lanes.put("b", "b2") is True
    # The held key takes new items, but only hands them out after its release.
    assert lanes.put("a", "a3") is True
    assert lanes.put("c", "c2") is False
    assert await take_now(lanes) == ("b", "b2")
    waiting = asyncio.create_task(lanes.take())
    await assert_waits(waiting)

    lanes.release(held_key)
    assert await asyncio.wait_for(waiting, timeout=1) == ("a", "a3")
    lanes.release("a")
    lanes.release("b")
    assert lanes.lanes == 0
    assert len(lanes) == 0


async def test_take_all_waiting_with_nothing_queued_is_empty() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=3)

    assert lanes.take_all_waiting() == []
    assert lanes.put("a", "a1") is True
    assert await drain_one_at_a_time(lanes, 1) == ["a1"]


async def test_a_cancelled_take_loses_no_key() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=3)
    blocked = asyncio.create_task(lanes.take())
    await assert_waits(blocked)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked

    lanes.put("a", "a1")

    assert await take_now(lanes) == ("a", "a1")


def test_one_lane_is_bounded_apart_from_the_backlog() -> None:
    lanes: FairLanes[str] = FairLanes(max_backlog=10, max_per_lane=2)
    assert lanes.put("flood", "1") and lanes.put("flood", "2")
    assert not lanes.has_room("flood") and lanes.put("flood", "3") is False
    assert lanes.has_room("calm") and lanes.put("calm", "a")
    assert lanes.put("flood", "3", force=True)
    assert len(lanes) == 4
