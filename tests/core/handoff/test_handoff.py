"""The hand-off: a ticket for the team, a notice for the user, whatever the notifier does."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from loguru import logger

from core.handoff import REASON_PROVIDERS_FAILED, Handoff, LogNotifier
from core.logref import pseudonym
from core.model import Reply, ReplyKind, Role, Turn, TurnOutcome
from core.storage.sqlite import SqliteStore
from tests.fakes import RecordingNotifier, message


@pytest.fixture
def logged() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = logger.add(lines.append, format="{level} {message}", level="DEBUG")
    yield lines
    logger.remove(handler)


async def turn_after(store: SqliteStore, texts: list[str], current: str, user: str = "u1") -> Turn:
    """A turn as the ladder sees it: stored history, then the message being answered."""
    for text in texts:
        incoming = message(text, user=user)
        await store.record_incoming(incoming)
        await store.record_reply(incoming, Reply(f"re: {text}"), latency_ms=1)
    now = message(current, user=user)
    return Turn(now, history=await store.context(now.chat, limit=50))


async def test_the_user_is_told_a_person_will_reply_and_the_team_gets_a_ticket(
    store: SqliteStore,
) -> None:
    notifier = RecordingNotifier()
    turn = await turn_after(store, ["where is my parcel?"], "still nothing")

    reply = await Handoff(store, notifier).hand_off(turn, REASON_PROVIDERS_FAILED)

    assert (reply.kind, reply.outcome, reply.provider) == (
        ReplyKind.NOTICE,
        TurnOutcome.HANDED_OFF,
        "handoff",
    )
    assert "person from our team" in reply.text and "get back to you" in reply.text
    [ticket] = await store.open_tickets()
    assert notifier.tickets == [ticket]
    assert (ticket.user, ticket.chat, ticket.reason) == (
        turn.message.user,
        turn.message.chat,
        REASON_PROVIDERS_FAILED,
    )
    assert [(m.role, m.text) for m in ticket.transcript] == [
        (Role.USER, "where is my parcel?"),
        (Role.ASSISTANT, "re: where is my parcel?"),
        (Role.USER, "still nothing"),
    ]


async def test_the_transcript_is_the_last_messages_plus_the_current_one(
    store: SqliteStore,
) -> None:
    turn = await turn_after(store, [f"q{n}" for n in range(5)], "now")
    await Handoff(store, RecordingNotifier(), transcript_size=3).hand_off(turn, "why")
    [ticket] = await store.open_tickets()
    assert [m.text for m in ticket.transcript] == ["re: q3", "q4", "re: q4", "now"]


async def test_a_transcript_size_of_zero_keeps_only_the_current_message(
    store: SqliteStore,
) -> None:
    turn = await turn_after(store, ["q"], "now")
    await Handoff(store, RecordingNotifier(), transcript_size=0).hand_off(turn, "why")
    [ticket] = await store.open_tickets()
    assert [m.text for m in ticket.transcript] == ["now"]


def test_a_negative_transcript_size_is_refused(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="transcript_size"):
        Handoff(store, RecordingNotifier(), transcript_size=-1)


async def test_a_second_hand_off_reuses_the_ticket_without_pinging_the_team_again(
    store: SqliteStore,
) -> None:
    notifier = RecordingNotifier()
    handoff = Handoff(store, notifier)
    first = await handoff.hand_off(await turn_after(store, [], "help"), "first")
    second = await handoff.hand_off(await turn_after(store, [], "hello?"), "second")

    [ticket] = await store.open_tickets()
    assert ticket.reason == "first"
    assert len(notifier.tickets) == 1
    assert second.outcome == TurnOutcome.HANDED_OFF and "already" in second.text
    assert first.text != second.text


async def test_a_failing_notifier_is_logged_and_the_user_still_gets_the_notice(
    store: SqliteStore, logged: list[str]
) -> None:
    notifier = RecordingNotifier(error=ConnectionError("chat ops channel down"))
    turn = await turn_after(store, [], "please help")

    reply = await Handoff(store, notifier).hand_off(turn, "why")

    assert reply.outcome == TurnOutcome.HANDED_OFF
    [ticket] = await store.open_tickets()  # the team still finds it in the listing
    [line] = [entry for entry in logged if "could not notify" in entry]
    assert line.startswith("ERROR") and f"#{ticket.id}" in line
    assert "please help" not in "".join(logged)


async def test_a_hanging_notifier_does_not_hold_the_reply(store: SqliteStore) -> None:
    handoff = Handoff(store, RecordingNotifier(delay=30), notify_timeout=0.05)
    started = time.perf_counter()
    reply = await handoff.hand_off(await turn_after(store, [], "hi"), "why")
    assert reply.outcome == TurnOutcome.HANDED_OFF
    assert time.perf_counter() - started < 5


async def test_the_log_notifier_names_the_ticket_but_not_the_user_or_the_text(
    store: SqliteStore, logged: list[str]
) -> None:
    user, private = "alice-4711", "my card number is 4111 1111"
    turn = await turn_after(store, [private], "still broken", user=user)

    await Handoff(store, LogNotifier()).hand_off(turn, REASON_PROVIDERS_FAILED)

    [ticket] = await store.open_tickets()
    [line] = logged
    assert line.startswith("WARNING")
    assert f"hand-off ticket #{ticket.id} opened" in line
    assert REASON_PROVIDERS_FAILED in line and pseudonym(ticket.chat.key) in line
    assert user not in line and "4111" not in line and "still broken" not in line
