"""The stage chain as wired in ``bot/wiring.py``, on a real SQLite store and a fake provider."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Any

from loguru import logger
from prometheus_client import CollectorRegistry

from bot.logs import configure_logging
from bot.wiring import build_pipeline
from core.errors import StorageError
from core.gateway import Gateway
from core.metrics import PrometheusTurnMetrics
from core.model import IncomingMessage, Reply, ReplyKind, Role, TurnOutcome
from core.stages.boundary import APOLOGY
from core.stages.context import ContextStage
from core.storage.sqlite import SqliteStore
from tests.fakes import BrokenProvider, EchoProvider, RecordingMetrics, answering, message


def gateway_for(store: Any, provider: Any, metrics: Any, limit: int = 20) -> Gateway:
    """The production stage order, with one provider as the terminal and no hand-off."""
    pipeline = build_pipeline(
        store=store,
        ladder=answering(provider),
        handoff=None,
        metrics=metrics,
        bot_name="Testbot",
        context=ContextStage(store, history_limit=limit),
    )
    return Gateway(pipeline, system_prompt="be brief")


async def test_provider_sees_system_prompt_history_and_the_new_message(store: SqliteStore) -> None:
    provider = EchoProvider()
    gateway = gateway_for(store, provider, RecordingMetrics())
    await gateway.submit(message("first"))
    reply = await gateway.submit(message("second"))

    assert reply.text == "echo: second"
    assert [(m.role, m.text) for m in provider.prompts[-1]] == [
        (Role.SYSTEM, "be brief"),
        (Role.USER, "first"),
        (Role.ASSISTANT, "echo: first"),
        (Role.USER, "second"),
    ]


async def test_history_handed_over_is_bounded_by_the_limit(store: SqliteStore) -> None:
    provider = EchoProvider()
    gateway = gateway_for(store, provider, RecordingMetrics(), limit=2)
    for n in range(4):
        await gateway.submit(message(f"q{n}"))
    assert [m.text for m in provider.prompts[-1]] == ["be brief", "q2", "echo: q2", "q3"]


async def test_a_crashing_provider_gets_an_apology_counted_as_a_failure(
    store: SqliteStore,
) -> None:
    metrics = RecordingMetrics()
    gateway = gateway_for(store, BrokenProvider(RuntimeError("kaput")), metrics)
    reply = await gateway.submit(message("hello"))

    assert (reply.text, reply.kind, reply.outcome) == (
        APOLOGY,
        ReplyKind.ERROR,
        TurnOutcome.FAILED,
    )
    assert metrics.crashed == ["RuntimeError"]
    assert [r.outcome for r, _ in metrics.finished] == [TurnOutcome.FAILED]
    # The question is kept, and the failure recorded, but neither reaches the next prompt as
    # an answer.
    chat = message("x").chat
    assert [m.text for m in await store.history(chat)] == ["hello", ""]
    async with store.db.execute("SELECT outcome FROM messages WHERE direction = 'out'") as cursor:
        assert [r[0] for r in await cursor.fetchall()] == ["failed"]
    assert [m.text for m in await store.context(chat, limit=10)] == ["hello"]


@dataclass
class ForgetfulStore:
    """A real store whose reply writes fail, as a full disk would make them."""

    inner: SqliteStore

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def record_reply(self, message: IncomingMessage, reply: Reply, latency_ms: float) -> int:
        raise StorageError("disk full")


async def test_an_answer_is_still_delivered_when_storing_it_fails(store: SqliteStore) -> None:
    gateway = gateway_for(ForgetfulStore(store), EchoProvider(), RecordingMetrics())  # type: ignore[arg-type]
    reply = await gateway.submit(message("hello"))
    assert (reply.text, reply.kind) == ("echo: hello", ReplyKind.ANSWER)


async def test_a_failure_is_logged_without_the_message_text_or_user(store: SqliteStore) -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", stream=out)
    private_text, user = "my card is " + "4111 " * 4, "alice-" + "x" * 3
    try:
        gateway = gateway_for(store, BrokenProvider(RuntimeError("kaput")), RecordingMetrics())
        await gateway.submit(message(private_text, user=user))
    finally:
        logger.remove()
    logged = out.getvalue()
    assert "turn failed: RuntimeError" in logged
    assert "4111" not in logged and user not in logged


async def test_every_turn_is_measured_in_prometheus(store: SqliteStore) -> None:
    registry = CollectorRegistry()
    gateway = gateway_for(store, EchoProvider(), PrometheusTurnMetrics(registry))
    await gateway.submit(message("hello"))
    await gateway.submit(message("/help"))

    def turns(outcome: str, provider: str) -> float | None:
        return registry.get_sample_value(
            "bastion_turns_total",
            {
                "outcome": outcome,
                "kind": "answer" if provider != "none" else "notice",
                "provider": provider,
            },
        )

    assert turns("answered", "echo") == 1
    assert turns("command", "none") == 1
    assert registry.get_sample_value("bastion_turn_seconds_count") == 2


async def test_help_lists_the_commands_and_costs_no_model_call(store: SqliteStore) -> None:
    provider = EchoProvider()
    reply = await gateway_for(store, provider, RecordingMetrics()).submit(message("/help"))
    assert reply.kind == ReplyKind.NOTICE
    for command in ("/help", "/reset", "/forget", "/human"):
        assert command in reply.text
    assert provider.prompts == []


async def test_start_greets_by_the_bots_name(store: SqliteStore) -> None:
    reply = await gateway_for(store, EchoProvider(), RecordingMetrics()).submit(message("/start"))
    assert "Testbot" in reply.text and "/help" in reply.text


async def test_reset_makes_the_model_forget_the_earlier_turns(store: SqliteStore) -> None:
    provider = EchoProvider()
    gateway = gateway_for(store, provider, RecordingMetrics())
    await gateway.submit(message("my order is 1234"))
    reset = await gateway.submit(message("/reset"))
    await gateway.submit(message("what was my order?"))

    assert "afresh" in reset.text
    assert [m.text for m in provider.prompts[-1]] == ["be brief", "what was my order?"]


async def test_forget_deletes_the_users_stored_history_and_leaves_no_trace(
    store: SqliteStore,
) -> None:
    gateway = gateway_for(store, EchoProvider(), RecordingMetrics())
    await gateway.submit(message("my address is 1 Main St"))
    reply = await gateway.submit(message("/forget"))

    assert "deleted" in reply.text and "2 messages" in reply.text
    assert await store.history(message("x").chat) == ()


async def test_unknown_command_points_to_help(store: SqliteStore) -> None:
    reply = await gateway_for(store, EchoProvider(), RecordingMetrics()).submit(message("/dance"))
    assert reply.text.startswith("I don't know the command /dance") and "/help" in reply.text


async def test_human_is_honest_that_no_person_is_connected_yet(store: SqliteStore) -> None:
    reply = await gateway_for(store, EchoProvider(), RecordingMetrics()).submit(message("/human"))
    assert "not switched on" in reply.text


async def test_after_a_long_silence_the_conversation_starts_afresh(store: SqliteStore) -> None:
    from datetime import timedelta

    provider = EchoProvider()
    pipeline = build_pipeline(
        store=store,
        ladder=answering(provider),
        handoff=None,
        metrics=RecordingMetrics(),
        bot_name="Testbot",
        context=ContextStage(store, history_limit=20, idle_reset=timedelta(minutes=30)),
    )
    gateway = Gateway(pipeline)
    first = message("my order is 1234")
    await gateway.submit(first)
    soon = message("and when will it come?")
    soon = replace(soon, sent_at=first.sent_at + timedelta(minutes=5))
    await gateway.submit(soon)
    assert provider.prompts[-1][0].text == "my order is 1234"
    later = replace(message("hello again"), sent_at=first.sent_at + timedelta(hours=2))
    await gateway.submit(later)
    assert [m.text for m in provider.prompts[-1]] == ["hello again"]
    # The reset sticks: the new visit's next message does not bring the old one back.
    after = replace(message("is it shipped?"), sent_at=later.sent_at + timedelta(minutes=1))
    await gateway.submit(after)
    assert [m.text for m in provider.prompts[-1]] == [
        "hello again",
        "echo: hello again",
        "is it shipped?",
    ]


@dataclass
class KnownFacts:
    async def facts_for(self, user: Any) -> dict[str, str]:
        return {"balance": "$47.15"}


async def test_facts_reach_the_prompt_in_a_direct_chat_but_never_in_a_group(
    store: SqliteStore,
) -> None:
    from core.model import ChatRef

    provider = EchoProvider()
    pipeline = build_pipeline(
        store=store,
        ladder=answering(provider),
        handoff=None,
        metrics=RecordingMetrics(),
        bot_name="Testbot",
        context=ContextStage(store, history_limit=20, facts=KnownFacts()),
    )
    gateway = Gateway(pipeline, system_prompt="be brief")
    await gateway.submit(message("what is my balance?"))
    assert "$47.15" in provider.prompts[-1][0].text
    in_group = message("what is my balance?", chat="group-1")
    in_group = replace(in_group, chat=ChatRef("test", "group-1", is_group=True))
    await gateway.submit(in_group)
    assert "$47.15" not in provider.prompts[-1][0].text
