"""The hand-off gate, alone and in the stage order the composition root uses."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from core.handoff import REASON_USER_ASKED, Handoff
from core.metrics import PrometheusTurnMetrics
from core.model import Reply, ReplyKind, Turn, TurnOutcome
from core.pipeline import compose
from core.ports import Next
from core.stages.boundary import ErrorBoundary
from core.stages.commands import HUMAN_UNAVAILABLE, CommandStage
from core.stages.context import ContextStage
from core.stages.handoff_gate import HandoffGate
from core.storage.sqlite import SqliteStore
from tests.fakes import EchoProvider, RecordingNotifier, answering, message


class CountingNext:
    """The rest of the chain, reduced to a counter and a fixed answer."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, turn: Turn) -> Reply:
        self.calls += 1
        return Reply("from the model")


async def test_without_a_ticket_the_turn_goes_on(store: SqliteStore) -> None:
    rest = CountingNext()
    reply = await HandoffGate(store, store)(Turn(message("hi")), rest)
    assert (reply.text, rest.calls) == ("from the model", 1)
    assert await store.history(message("x").chat) == ()  # storing is the context stage's job


async def test_with_an_open_ticket_the_message_is_kept_for_the_team(store: SqliteStore) -> None:
    held = message("are you there?")
    await store.open_ticket(held.user, held.chat, "why", [])
    rest = CountingNext()

    reply = await HandoffGate(store, store)(Turn(held), rest)

    assert rest.calls == 0
    assert (reply.kind, reply.outcome, reply.provider) == (
        ReplyKind.NOTICE,
        TurnOutcome.HANDED_OFF,
        "handoff",
    )
    assert "person from our team" in reply.text
    assert [m.text for m in await store.history(held.chat)] == ["are you there?"]


async def test_a_closed_ticket_opens_the_gate_again(store: SqliteStore) -> None:
    first = message("help")
    ticket = await store.open_ticket(first.user, first.chat, "why", [])
    await store.close_ticket(ticket.id)
    rest = CountingNext()
    await HandoffGate(store, store)(Turn(message("hello again")), rest)
    assert rest.calls == 1


def pipeline(store: SqliteStore, provider: EchoProvider, handoff: Handoff | None) -> Next:
    """Boundary, commands, hand-off gate, context, provider: the composition root's order."""
    return compose(
        [
            ErrorBoundary(PrometheusTurnMetrics(CollectorRegistry())),
            CommandStage(store, bot_name="Testbot", handoff=handoff),
            HandoffGate(store, store),
            ContextStage(store, history_limit=20),
        ],
        answering(provider),
    )


async def test_after_human_the_conversation_is_answered_by_people_not_the_model(
    store: SqliteStore,
) -> None:
    provider, notifier = EchoProvider(), RecordingNotifier()
    run = pipeline(store, provider, Handoff(store, notifier, transcript_size=10))

    await run(Turn(message("my parcel is lost")))
    asked = await run(Turn(message("/human")))
    held = await run(Turn(message("hello? anyone?")))

    assert asked.outcome == TurnOutcome.HANDED_OFF and "get back to you" in asked.text
    assert held.outcome == TurnOutcome.HANDED_OFF and held.provider == "handoff"
    assert len(provider.prompts) == 1  # only the question before /human reached the model
    [ticket] = notifier.tickets
    assert ticket.reason == REASON_USER_ASKED
    assert [m.text for m in ticket.transcript] == [
        "my parcel is lost",
        "echo: my parcel is lost",
        "/human",
    ]
    chat = message("x").chat
    assert [m.text for m in await store.history(chat)][-1] == "hello? anyone?"

    # Once the team closes the ticket, the model answers again, with the held message in view.
    await store.close_ticket(ticket.id)
    answered = await run(Turn(message("thanks, sorted")))
    assert answered.text == "echo: thanks, sorted"
    assert "hello? anyone?" in [m.text for m in provider.prompts[-1]]


async def test_human_twice_keeps_one_ticket_and_one_notification(store: SqliteStore) -> None:
    notifier = RecordingNotifier()
    run = pipeline(store, EchoProvider(), Handoff(store, notifier))
    await run(Turn(message("/human")))
    again = await run(Turn(message("/human")))
    assert "already" in again.text
    assert len(notifier.tickets) == 1 and len(await store.open_tickets()) == 1


async def test_commands_still_work_while_a_person_has_the_conversation(
    store: SqliteStore,
) -> None:
    provider = EchoProvider()
    run = pipeline(store, provider, Handoff(store, RecordingNotifier()))
    await run(Turn(message("/human")))

    helped = await run(Turn(message("/help")))
    forgot = await run(Turn(message("/forget")))
    after = await run(Turn(message("new question")))

    assert helped.outcome == TurnOutcome.COMMAND and "/human" in helped.text
    assert forgot.outcome == TurnOutcome.COMMAND
    assert await store.open_tickets() == []  # /forget took the ticket with it
    assert after.text == "echo: new question"


async def test_help_describes_human_by_what_it_does_here(store: SqliteStore) -> None:
    with_people = await pipeline(store, EchoProvider(), Handoff(store, RecordingNotifier()))(
        Turn(message("/help"))
    )
    without = await pipeline(store, EchoProvider(), None)(Turn(message("/help")))
    assert "/human – hand this conversation to a person" in with_people.text
    assert f"/human – {HUMAN_UNAVAILABLE}" in without.text


async def test_without_a_handoff_human_stays_honest(store: SqliteStore) -> None:
    reply = await pipeline(store, EchoProvider(), None)(Turn(message("/human")))
    assert "not switched on" in reply.text
    assert await store.open_tickets() == []
