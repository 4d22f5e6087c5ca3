"""The gateway: ordering, fairness, the backlog bound, duplicates, replay, typing, shutdown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.errors import DeliveryError
from core.gateway import BUSY, DUPLICATE, GAVE_UP, SHUTTING_DOWN, EphemeralInbox, Gateway
from core.model import InboxState, IncomingMessage, Reply, ReplyKind, Turn, TurnOutcome
from core.storage.sqlite import SqliteStore
from tests.fakes import message


@dataclass
class RecordingOutbound:
    """A push platform as the gateway sees it: records what it is asked to send."""

    sent: list[tuple[str, str]] = field(default_factory=list)  # (message text, reply text)
    typed: list[str] = field(default_factory=list)
    fail: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        if self.fail:
            raise DeliveryError("the platform said no")
        self.sent.append((message.text, reply.text))
        self.arrived.set()

    async def typing(self, message: IncomingMessage) -> None:
        self.typed.append(message.text)

    async def wait_for(self, count: int) -> None:
        while len(self.sent) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout=5)


async def until(condition: Callable[[], bool]) -> None:
    """Let the workers run until ``condition`` holds (a few seconds at most)."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


# The platform the tests' messages come from, as a push platform (its adapter connects).
PUSHED = frozenset({"test"})


async def echo(turn: Turn) -> Reply:
    return Reply(f"re: {turn.message.text}")


class HeldTurns:
    """A pipeline whose turns all wait for ``release()``, then answer ``answer``."""

    def __init__(self, answer: str = "ok") -> None:
        self.answer = answer
        self._released = asyncio.Event()

    def release(self) -> None:
        self._released.set()

    async def __call__(self, turn: Turn) -> Reply:
        await self._released.wait()
        return Reply(self.answer)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "inbox.db") as opened:
        yield opened


async def test_a_hundred_messages_with_random_latencies_come_back_in_order() -> None:
    async def slow_at_random(turn: Turn) -> Reply:
        await asyncio.sleep(random.uniform(0, 0.004))
        return Reply(turn.message.text)

    outbound = RecordingOutbound()
    async with Gateway(slow_at_random, workers=8, max_per_conversation=100) as gateway:
        gateway.connect("test", outbound)
        texts = [f"m{n}" for n in range(100)]
        for text in texts:
            await gateway.deliver(message(text, user="same"))
        await outbound.wait_for(100)
    assert [reply for _, reply in outbound.sent] == texts


async def test_submitted_messages_of_one_conversation_are_answered_in_order() -> None:
    async def slow_at_random(turn: Turn) -> Reply:
        await asyncio.sleep(random.uniform(0, 0.004))
        return Reply(turn.message.text)

    async with Gateway(slow_at_random, workers=4) as gateway:
        texts = [f"m{n}" for n in range(50)]
        replies = await asyncio.gather(*(gateway.submit(message(t, user="same")) for t in texts))
    assert [r.text for r in replies] == texts


async def test_different_conversations_do_not_wait_for_each_other() -> None:
    release = asyncio.Event()

    async def blocks_alice(turn: Turn) -> Reply:
        if turn.message.user.user_id == "alice":
            await release.wait()
        return Reply("done")

    async with Gateway(blocks_alice, workers=2) as gateway:
        alice = asyncio.create_task(gateway.submit(message("x", user="alice")))
        bob = await asyncio.wait_for(gateway.submit(message("y", user="bob")), timeout=5)
        assert bob.text == "done"
        release.set()
        await alice


async def test_a_flooding_conversation_gets_one_turn_per_round() -> None:
    order: list[str] = []
    gate = asyncio.Event()

    async def records(turn: Turn) -> Reply:
        await gate.wait()
        order.append(turn.message.text)
        return Reply("ok")

    outbound = RecordingOutbound()
    async with Gateway(records, workers=1) as gateway:
        gateway.connect("test", outbound)
        for n in range(5):
            await gateway.deliver(message(f"flood{n}", user="flooder"))
        await gateway.deliver(message("calm", user="calm"))
        gate.set()
        await outbound.wait_for(6)
    # The calm user waits for the flooder's turn already running, then goes next.
    assert order[:3] == ["flood0", "calm", "flood1"]


async def test_past_the_backlog_bound_new_messages_get_busy() -> None:
    waits = HeldTurns()

    async with Gateway(waits, workers=1, max_backlog=2) as gateway:
        running = [asyncio.create_task(gateway.submit(message("m0")))]
        await until(lambda: gateway.in_flight > 0)
        running += [asyncio.create_task(gateway.submit(message(f"m{n}"))) for n in (1, 2)]
        await until(lambda: gateway.backlog == 2)
        busy = await gateway.submit(message("one too many", user="other"))
        assert (busy.text, busy.outcome) == (BUSY, TurnOutcome.BUSY)
        assert busy.retry_after is not None and busy.retry_after > 0
        waits.release()
        assert [r.text for r in await asyncio.gather(*running)] == ["ok"] * 3
        assert gateway.metrics()["busy"] == 1


async def test_a_duplicate_delivery_is_answered_once(store: SqliteStore) -> None:
    outbound = RecordingOutbound()
    async with Gateway(echo, inbox=store) as gateway:
        gateway.connect("test", outbound)
        first = message("where is my order?")
        await gateway.deliver(first)
        await outbound.wait_for(1)
        await gateway.deliver(first)  # the platform retried its webhook
        await gateway.deliver(message("and now?"))
        await outbound.wait_for(2)
    assert outbound.sent == [
        ("where is my order?", "re: where is my order?"),
        ("and now?", "re: and now?"),
    ]
    assert gateway.metrics()["duplicates"] == 1


async def test_a_retried_request_shares_the_answer_of_the_first(store: SqliteStore) -> None:
    release = asyncio.Event()
    calls = 0

    async def slow(turn: Turn) -> Reply:
        nonlocal calls
        calls += 1
        await release.wait()
        return Reply("the answer")

    async with Gateway(slow, inbox=store) as gateway:
        original = message("hello")
        first = asyncio.create_task(gateway.submit(original))
        await asyncio.sleep(0.01)
        retry = asyncio.create_task(gateway.submit(original))
        await asyncio.sleep(0.01)
        release.set()
        assert [(await first).text, (await retry).text] == ["the answer", "the answer"]
        late = await gateway.submit(original)
    assert (late.text, late.outcome) == (DUPLICATE, TurnOutcome.DUPLICATE)
    assert calls == 1


async def test_unfinished_messages_are_replayed_once_at_the_next_start(
    store: SqliteStore,
) -> None:
    # What a crash leaves: two accepted messages, one already answered but not sent.
    pending = message("still to answer", user="ann")
    ready = message("answered before the crash", user="bob")
    await store.receive(pending)
    entry = await store.receive(ready)
    await store.answered(entry.entry_id, Reply("made before the crash"))
    asked: list[str] = []

    async def records(turn: Turn) -> Reply:
        asked.append(turn.message.text)
        return Reply(f"re: {turn.message.text}")

    outbound = RecordingOutbound()
    async with Gateway(records, inbox=store, push_platforms=PUSHED) as gateway:
        # Replays of a push platform wait for its adapter to connect, then go out in order.
        assert gateway.backlog == 0
        gateway.connect("test", outbound)
        await outbound.wait_for(2)
        assert await gateway.replay() == 0  # once only
        await gateway.drain(grace=5)
    assert sorted(outbound.sent) == [
        ("answered before the crash", "made before the crash"),
        ("still to answer", "re: still to answer"),
    ]
    assert asked == ["still to answer"]  # the ready reply was sent, not asked again
    assert await store.unfinished() == []


async def test_replayed_replies_for_the_web_chat_are_held_until_collected(
    store: SqliteStore,
) -> None:
    pending = message("asked before the crash", platform="web")
    await store.receive(pending)
    async with Gateway(echo, inbox=store) as gateway:
        await until(lambda: gateway.in_flight == 0 and gateway.backlog == 0)
        await gateway.drain(grace=5)
        held = await gateway.held_replies(pending.chat)
        assert [r.text for r in held] == ["re: asked before the crash"]
        assert await gateway.held_replies(pending.chat) == []


async def test_a_message_that_keeps_crashing_gets_an_apology(store: SqliteStore) -> None:
    poison = message("crash me")
    entry = await store.receive(poison)
    for _ in range(3):  # three replays that died on it
        await store.replaying(entry.entry_id)
    asked: list[str] = []

    async def records(turn: Turn) -> Reply:
        asked.append(turn.message.text)
        return Reply("never")

    outbound = RecordingOutbound()
    async with Gateway(records, inbox=store, max_replays=3, push_platforms=PUSHED) as gateway:
        gateway.connect("test", outbound)
        await outbound.wait_for(1)
    assert outbound.sent == [("crash me", GAVE_UP)]
    assert asked == []


async def test_starts_that_never_reach_a_message_do_not_use_up_its_replays(
    store: SqliteStore,
) -> None:
    await store.receive(message("asked before an outage"))
    for _ in range(5):  # the platform's adapter failed to start each time: nothing ran
        async with Gateway(echo, inbox=store, max_replays=3, push_platforms=PUSHED):
            pass
    outbound = RecordingOutbound()
    async with Gateway(echo, inbox=store, max_replays=3, push_platforms=PUSHED) as gateway:
        gateway.connect("test", outbound)
        await outbound.wait_for(1)
    assert outbound.sent == [("asked before an outage", "re: asked before an outage")]
    assert [e.replays for e in await store.unfinished()] == []


async def test_a_reply_the_platform_refuses_stays_for_the_next_start(store: SqliteStore) -> None:
    outbound = RecordingOutbound(fail=True)
    async with Gateway(echo, inbox=store) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("hello"))
        await until(lambda: gateway.metrics()["undelivered"] == 1)
    left = await store.unfinished()
    assert [(e.state, e.reply.text if e.reply else "") for e in left] == [
        (InboxState.ANSWERED, "re: hello")
    ]


async def test_typing_is_shown_while_a_turn_runs() -> None:
    async def slow(turn: Turn) -> Reply:
        await asyncio.sleep(0.05)
        return Reply("done")

    outbound = RecordingOutbound()
    async with Gateway(slow, typing_interval=0.01) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("hi"))
        await outbound.wait_for(1)
        typed = len(outbound.typed)
        await asyncio.sleep(0.03)
    assert typed >= 2
    assert len(outbound.typed) == typed  # it stopped with the turn


async def test_a_refusal_goes_out_through_the_platform() -> None:
    async def never(turn: Turn) -> Reply:
        raise AssertionError("a refused message never reaches the pipeline")

    outbound = RecordingOutbound()
    async with Gateway(never, workers=1, max_backlog=1) as gateway:
        gateway.connect("test", outbound)
        gateway.stop_intake(grace=1)
        await gateway.deliver(message("too late"))
    assert outbound.sent == [("too late", SHUTTING_DOWN)]


async def test_a_worker_survives_a_crashing_turn() -> None:
    async def crashes_once(turn: Turn) -> Reply:
        if turn.message.text == "boom":
            raise RuntimeError("bug")
        return Reply("fine")

    async with Gateway(crashes_once, workers=1) as gateway:
        crashed = await gateway.submit(message("boom"))
        after = await gateway.submit(message("next"))
    assert (crashed.text, crashed.outcome) == (GAVE_UP, TurnOutcome.FAILED)
    assert after.text == "fine"


async def test_after_stop_intake_new_messages_get_a_notice_and_running_turns_finish() -> None:
    waits = HeldTurns("answered")

    async with Gateway(waits) as gateway:
        running = asyncio.create_task(gateway.submit(message("first")))
        await until(lambda: gateway.in_flight > 0)
        gateway.stop_intake(grace=5)

        late = await gateway.submit(message("second"))
        assert (late.kind, late.text) == (ReplyKind.NOTICE, SHUTTING_DOWN)

        assert await gateway.drain(grace=0.01) is False  # still running
        waits.release()
        assert await gateway.drain(grace=1) is True
        assert (await running).text == "answered"


async def test_a_turn_still_running_when_the_grace_ends_gets_the_restart_notice() -> None:
    async def never_finishes(turn: Turn) -> Reply:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with Gateway(never_finishes) as gateway:
        running = asyncio.create_task(gateway.submit(message("stuck")))
        await until(lambda: gateway.in_flight > 0)
        gateway.stop_intake(grace=0.05)

        reply = await asyncio.wait_for(running, timeout=5)
        assert (reply.kind, reply.text) == (ReplyKind.NOTICE, SHUTTING_DOWN)
        assert await gateway.drain(grace=1) is True


async def test_at_shutdown_waiting_push_messages_stay_for_the_next_start(
    store: SqliteStore,
) -> None:
    waits = HeldTurns("answered")

    outbound = RecordingOutbound()
    async with Gateway(waits, inbox=store, workers=1) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("running", user="a"))
        await gateway.deliver(message("waiting", user="b"))
        await until(lambda: gateway.in_flight > 0)
        gateway.stop_intake(grace=5)
        waits.release()
        assert await gateway.drain(grace=1) is True
    assert outbound.sent == [("running", "answered")]
    assert [e.message.text for e in await store.unfinished()] == ["waiting"]


async def test_a_flooding_conversation_fills_its_own_lane_not_the_whole_backlog() -> None:
    waits = HeldTurns()

    outbound = RecordingOutbound()
    async with Gateway(waits, workers=1, max_backlog=100, max_per_conversation=3) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("flood0", user="flooder"))
        await until(lambda: gateway.in_flight == 1)
        for n in range(1, 10):
            await gateway.deliver(message(f"flood{n}", user="flooder"))
        await gateway.deliver(message("calm", user="calm"))
        assert gateway.backlog == 4  # three waiting from the flooder (one runs), one calm
        assert gateway.metrics()["busy"] == 6
        waits.release()
        await outbound.wait_for(11)
    busy = [text for text, reply in outbound.sent if reply == BUSY]
    assert busy == [f"flood{n}" for n in range(4, 10)]
    assert ("calm", "ok") in outbound.sent


# Found in review: each pins a way a message could be answered twice or not at all.


async def test_a_message_arriving_after_the_start_is_not_replayed_too(
    store: SqliteStore,
) -> None:
    left_over = message("from the last run", user="ann")
    await store.receive(left_over)
    asked: list[str] = []

    async def records(turn: Turn) -> Reply:
        asked.append(turn.message.text)
        return Reply("ok")

    outbound = RecordingOutbound()
    async with Gateway(records, inbox=store, push_platforms=PUSHED) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("new", user="ann"))
        await gateway.replay()  # a second call finds nothing more to do
        await outbound.wait_for(2)
        await gateway.drain(grace=5)
    assert asked == ["from the last run", "new"]  # in order, each once
    assert await store.unfinished() == []


async def test_a_retry_gets_the_answer_even_when_the_first_client_went_away(
    store: SqliteStore,
) -> None:
    slow = HeldTurns("the answer")

    async with Gateway(slow, inbox=store) as gateway:
        original = message("hello", platform="web")
        first = asyncio.create_task(gateway.submit(original))
        await until(lambda: gateway.in_flight == 1)
        first.cancel()  # the browser tab closed
        retry = asyncio.create_task(gateway.submit(original))
        await asyncio.sleep(0.01)
        slow.release()
        assert (await asyncio.wait_for(retry, timeout=5)).text == "the answer"
        await gateway.drain(grace=5)
    assert await gateway.held_replies(original.chat) == []  # it was handed over, not held


async def test_a_reply_nobody_waits_for_any_more_is_held(store: SqliteStore) -> None:
    slow = HeldTurns("the answer")

    async with Gateway(slow, inbox=store) as gateway:
        original = message("hello", platform="web")
        first = asyncio.create_task(gateway.submit(original))
        await until(lambda: gateway.in_flight == 1)
        first.cancel()
        slow.release()
        await gateway.drain(grace=5)
        assert [r.text for r in await gateway.held_replies(original.chat)] == ["the answer"]


async def test_callers_told_to_resend_at_shutdown_are_not_answered_at_the_next_start(
    store: SqliteStore,
) -> None:
    waits = HeldTurns("answered")

    async with Gateway(waits, inbox=store, workers=1) as gateway:
        callers = [
            asyncio.create_task(gateway.submit(message(f"q{n}", user=f"u{n}"))) for n in range(5)
        ]
        await until(lambda: gateway.in_flight == 1 and gateway.backlog == 4)
        gateway.stop_intake(grace=5)
        waits.release()
        await gateway.drain(grace=5)
    replies = [(await c).text for c in callers]
    assert replies.count(SHUTTING_DOWN) == 4 and replies.count("answered") == 1
    assert await store.unfinished() == []


async def test_a_duplicate_gets_no_busy_or_slow_down_of_its_own(store: SqliteStore) -> None:
    waits = HeldTurns("answer")

    outbound = RecordingOutbound()
    async with Gateway(waits, inbox=store, workers=1, max_per_conversation=1) as gateway:
        gateway.connect("test", outbound)
        running, queued = message("running"), message("queued")
        await gateway.deliver(running)
        await until(lambda: gateway.in_flight == 1)
        await gateway.deliver(queued)  # the lane is now full
        await gateway.deliver(queued)  # the platform retried: no "busy" for it
        waits.release()
        await outbound.wait_for(2)
        await gateway.drain(grace=5)
    assert outbound.sent == [("running", "answer"), ("queued", "answer")]


async def test_a_resend_after_a_restart_gets_no_busy_or_slow_down_of_its_own(
    store: SqliteStore,
) -> None:
    answered = message("asked before the restart")
    outbound = RecordingOutbound()
    async with Gateway(echo, inbox=store) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(answered)
        await outbound.wait_for(1)
        await gateway.drain(grace=5)
    waits = HeldTurns("answer")

    async with Gateway(waits, inbox=store, workers=1, max_per_conversation=1) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("running"))
        await until(lambda: gateway.in_flight == 1)
        await gateway.deliver(message("queued"))  # the lane is now full
        await gateway.deliver(answered)  # the platform resent what the last run took in
        waits.release()
        await outbound.wait_for(3)
        await gateway.drain(grace=5)
        assert gateway.metrics()["busy"] == 0
    assert outbound.sent[1:] == [("running", "answer"), ("queued", "answer")]


async def test_leaving_without_stop_intake_still_tells_a_waiting_caller() -> None:
    async def never(turn: Turn) -> Reply:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with Gateway(never) as gateway:
        caller = asyncio.create_task(gateway.submit(message("stuck")))
        await until(lambda: gateway.in_flight == 1)
    assert (await asyncio.wait_for(caller, timeout=5)).text == SHUTTING_DOWN


class InboxThatCannotRecordAnswers(EphemeralInbox):
    """An inbox whose disk fails at the worst moment."""

    async def answered(self, entry_id: int, reply: Reply) -> None:
        raise OSError("disk I/O error")


async def test_a_push_reply_goes_out_even_if_the_inbox_cannot_record_it() -> None:
    outbound = RecordingOutbound()
    async with Gateway(echo, inbox=InboxThatCannotRecordAnswers()) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("hello"))
        await outbound.wait_for(1)
    assert outbound.sent == [("hello", "re: hello")]


@dataclass
class FlakyOutbound(RecordingOutbound):
    failures_left: int = 1

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise DeliveryError("the platform is down for a moment")
        await super().send(message, reply)


async def test_a_failed_send_is_tried_again_in_this_process(store: SqliteStore) -> None:
    outbound = FlakyOutbound()
    async with Gateway(echo, inbox=store, resend_delays=(0.01,)) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("hello"))
        await outbound.wait_for(1)
        await until(lambda: gateway.in_flight == 0 and gateway.backlog == 0)
        await gateway.drain(grace=5)
    assert outbound.sent == [("hello", "re: hello")]
    assert await store.unfinished() == []


async def test_an_unreadable_inbox_row_does_not_stop_the_start(store: SqliteStore) -> None:
    await store.receive(message("fine"))
    await store.db.execute(
        """INSERT INTO inbox (platform, chat_key, message_id, user_key, payload, received_at)
           VALUES ('test', 'test:x:', 'bad', 'test:x', '{not json', '2026-01-01T00:00:00+00:00')"""
    )
    outbound = RecordingOutbound()
    async with Gateway(echo, inbox=store, push_platforms=PUSHED) as gateway:
        gateway.connect("test", outbound)
        await outbound.wait_for(1)
        await gateway.drain(grace=5)
    assert outbound.sent == [("fine", "re: fine")]
    assert await store.unfinished() == []


@dataclass
class SlowOutbound(RecordingOutbound):
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        await self.release.wait()  # the platform answers 429 and makes us wait
        await super().send(message, reply)


async def test_a_notice_the_platform_is_slow_to_take_does_not_hold_up_intake() -> None:
    outbound = SlowOutbound()
    async with Gateway(echo, workers=1) as gateway:
        gateway.connect("test", outbound)
        gateway.stop_intake(grace=1)
        await asyncio.wait_for(gateway.deliver(message("too late")), timeout=1)
        assert outbound.sent == []  # still on its way
        outbound.release.set()
    assert outbound.sent == [("too late", SHUTTING_DOWN)]  # and it went out before exit


# Found in the second review.


async def test_a_cancellation_leaking_from_a_turn_does_not_kill_the_worker() -> None:
    async def leaks(turn: Turn) -> Reply:
        if turn.message.text == "leak":
            raise asyncio.CancelledError  # a library's own cancellation, escaping
        return Reply("fine")

    async with Gateway(leaks, workers=1) as gateway:
        leaked = await asyncio.wait_for(gateway.submit(message("leak")), timeout=5)
        after = await asyncio.wait_for(gateway.submit(message("next", user="other")), timeout=5)
    assert (leaked.text, after.text) == (GAVE_UP, "fine")


@dataclass
class LeakingOutbound(RecordingOutbound):
    """A client library whose send lets its own cancellation escape, for some replies."""

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        if message.text == "leak":
            raise asyncio.CancelledError
        await super().send(message, reply)


async def test_a_cancellation_leaking_from_a_send_does_not_kill_the_worker() -> None:
    outbound = LeakingOutbound()
    async with Gateway(echo, workers=1, resend_delays=(0.0, 0.0)) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("leak"))  # first send and both resends leak
        await until(lambda: gateway.metrics()["undelivered"] == 3)
        await gateway.deliver(message("next", user="other"))
        await outbound.wait_for(1)
    assert outbound.sent == [("next", "re: next")]


@dataclass
class PenalisingOutbound(RecordingOutbound):
    """A platform that refuses the first ``refusals`` sends with a 429 asking for ``penalty``."""

    penalty: float = 0.3
    refusals: int = 1
    tried_at: list[float] = field(default_factory=list)

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        self.tried_at.append(asyncio.get_running_loop().time())
        if len(self.tried_at) <= self.refusals:
            raise DeliveryError("rate limited", retry_after=self.penalty)
        await super().send(message, reply)


async def test_a_reply_refused_with_a_wait_is_sent_again_no_sooner_than_asked() -> None:
    outbound = PenalisingOutbound()
    async with Gateway(echo, resend_delays=(0.0,)) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("hello"))
        await outbound.wait_for(1)
    assert outbound.sent == [("hello", "re: hello")]
    first, second = outbound.tried_at
    # A lower bound only: the resend sleeps at least the penalty after the first try failed.
    assert second - first >= outbound.penalty


async def test_a_rate_limited_reply_is_tried_again_as_often_as_the_platform_asks() -> None:
    # Rate limits are not failures: the platform is up and says when. The three tries for
    # failures are not used up by them.
    outbound = PenalisingOutbound(penalty=0.01, refusals=6)
    async with Gateway(echo, resend_delays=(0.0, 0.0, 0.0)) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("hello"))
        await outbound.wait_for(1)
    assert outbound.sent == [("hello", "re: hello")]
    assert len(outbound.tried_at) == 7


async def test_a_later_reply_never_overtakes_one_waiting_out_a_rate_limit() -> None:
    outbound = PenalisingOutbound(penalty=0.05)
    async with Gateway(echo, workers=2) as gateway:
        gateway.connect("test", outbound)
        await gateway.deliver(message("one"))
        await gateway.deliver(message("two"))
        await gateway.deliver(message("elsewhere", user="other"))
        await outbound.wait_for(3)
    assert [text for text, _ in outbound.sent] == ["elsewhere", "one", "two"]


async def test_replays_of_one_chat_go_out_in_order_once_the_adapter_connects(
    store: SqliteStore,
) -> None:
    first = message("answered before the crash", user="ann")
    second = message("asked just before the crash", user="ann")
    entry = await store.receive(first)
    await store.answered(entry.entry_id, Reply("first answer"))
    await store.receive(second)
    outbound = RecordingOutbound()
    async with Gateway(echo, inbox=store, push_platforms=PUSHED) as gateway:
        await asyncio.sleep(0.01)  # the adapter is still starting
        gateway.connect("test", outbound)
        await outbound.wait_for(2)
    assert [reply for _, reply in outbound.sent] == [
        "first answer",
        "re: asked just before the crash",
    ]


async def test_held_web_replies_stay_in_the_inbox_and_are_not_queued_again(
    store: SqliteStore,
) -> None:
    web = message("hello", platform="web")
    entry = await store.receive(web)
    await store.answered(entry.entry_id, Reply("made before the restart"))
    async with Gateway(echo, inbox=store) as gateway:
        assert gateway.backlog == 0 and gateway.in_flight == 0
        assert [r.text for r in await gateway.held_replies(web.chat)] == [
            "made before the restart"
        ]


async def test_drain_waits_for_notices_still_being_sent() -> None:
    outbound = SlowOutbound()
    async with Gateway(echo) as gateway:
        gateway.connect("test", outbound)
        gateway.stop_intake(grace=5)
        await gateway.deliver(message("too late"))
        asyncio.get_running_loop().call_later(0.05, outbound.release.set)
        assert await gateway.drain(grace=5) is True
        assert outbound.sent == [("too late", SHUTTING_DOWN)]  # before the adapters close


async def test_a_caller_told_to_resend_may_reuse_its_message_id(store: SqliteStore) -> None:
    release = asyncio.Event()

    async def waits(turn: Turn) -> Reply:
        await release.wait()
        return Reply(f"re: {turn.message.text}")

    queued = message("queued", user="b", platform="web")
    async with Gateway(waits, inbox=store, workers=1) as gateway:
        running = asyncio.create_task(gateway.submit(message("running", user="a")))
        await until(lambda: gateway.in_flight == 1)
        told = asyncio.create_task(gateway.submit(queued))
        await until(lambda: gateway.backlog == 1)
        gateway.stop_intake(grace=5)
        release.set()
        await gateway.drain(grace=5)
        assert (await told).text == SHUTTING_DOWN
        await running
    async with Gateway(waits, inbox=store) as restarted:
        resent = await asyncio.wait_for(restarted.submit(queued), timeout=5)
    assert resent.text == "re: queued"


class InboxSlowToRecordDone(EphemeralInbox):
    """The first ``done`` hangs (a busy disk at shutdown); later ones are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[int] = []
        self.first = True

    async def done(self, entry_id: int) -> None:
        if self.first:
            self.first = False
            await asyncio.Event().wait()
        self.recorded.append(entry_id)


async def test_an_answer_whose_closing_was_cut_short_is_closed_at_exit() -> None:
    inbox = InboxSlowToRecordDone()
    async with Gateway(echo, inbox=inbox) as gateway:
        reply = await gateway.submit(message("hello"))
        await until(lambda: gateway.in_flight == 1)  # stuck recording ``done``
    assert reply.text == "re: hello"
    assert inbox.recorded == [1]  # closed at exit, so the next start will not answer again
