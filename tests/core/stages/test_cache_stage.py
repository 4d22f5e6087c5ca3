"""The cache stage: FAQ answers reused with no provider call, personal answers never shared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from core.cache import ResponseCache
from core.model import (
    ChatMessage,
    Completion,
    Reply,
    ReplyKind,
    Role,
    StoredMessage,
    Turn,
    TurnOutcome,
    Usage,
    UserRef,
)
from core.pipeline import compose
from core.ports import Next
from core.stages.cache import CacheStage
from core.stages.context import ContextStage
from core.storage.sqlite import SqliteStore
from tests.fakes import answering, message

VERSION = "prompt:v1|models:gpt-4o-mini|kb:1"


@dataclass
class CountingProvider:
    """An LLM stand-in that answers from its prompt, reports usage, and counts every call."""

    calls: int = 0
    users: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "openai"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        self.calls += 1
        self.users.append(user.key)
        return Completion(
            f"answer #{self.calls} to: {prompt[-1].text}",
            provider="openai",
            model="gpt-4o-mini",
            usage=Usage(300, 80, cost_usd=0.000093),
        )


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def setup(
    max_entries: int = 100, ttl: float = 3600.0, clock: ManualClock | None = None
) -> tuple[CacheStage, CountingProvider, Next]:
    cache = ResponseCache(max_entries, ttl, clock=clock or ManualClock())
    stage = CacheStage(cache, VERSION)
    provider = CountingProvider()
    return stage, provider, compose([stage], answering(provider))


def turn(
    text: str,
    user: str = "u1",
    facts: Mapping[str, str] | None = None,
    history: tuple[StoredMessage, ...] = (),
    system_prompt: str = "be brief",
) -> Turn:
    return Turn(
        message(text, user=user), history=history, system_prompt=system_prompt, facts=facts or {}
    )


def past(text: str) -> StoredMessage:
    return StoredMessage(1, Role.USER, text, datetime.now(UTC))


async def test_a_second_identical_faq_question_costs_no_provider_call() -> None:
    stage, provider, pipeline = setup()

    first = await pipeline(turn("What are your opening hours?", user="alice"))
    second = await pipeline(turn("what are your opening hours", user="bob"))

    assert provider.calls == 1
    assert second.text == first.text
    assert second.provider == "cache"
    assert second.model == "gpt-4o-mini"
    assert second.usage == Usage()
    assert second.trail == ("cache:hit",)
    assert (second.kind, second.outcome) == (ReplyKind.ANSWER, TurnOutcome.ANSWERED)
    metrics = stage.metrics()
    assert (metrics["hits"], metrics["misses"], metrics["stores"]) == (1, 1, 1)
    assert (metrics["saved_input_tokens"], metrics["saved_output_tokens"]) == (300, 80)


async def test_an_answer_that_used_facts_is_neither_stored_nor_served() -> None:
    stage, provider, pipeline = setup()
    facts = {"balance": "$47.15"}

    personal = await pipeline(turn("What is my balance?", user="alice", facts=facts))
    other = await pipeline(turn("What is my balance?", user="bob"))

    assert provider.calls == 2
    assert provider.users == ["test:alice", "test:bob"]
    assert other.provider == "openai"
    assert other.text != personal.text
    assert stage.metrics()["stores"] == 1  # only bob's fact-free answer
    # Alice asking again with her facts still goes to the provider, not to bob's answer.
    again = await pipeline(turn("What is my balance?", user="alice", facts=facts))
    assert again.provider == "openai"
    assert provider.calls == 3
    assert stage.metrics()["bypassed_facts"] == 2


async def test_an_answer_shaped_by_history_is_neither_stored_nor_served() -> None:
    stage, provider, pipeline = setup()
    history = (past("I ordered the blue headphones"),)

    await pipeline(turn("Can I return them?", user="alice", history=history))
    fresh = await pipeline(turn("Can I return them?", user="bob"))
    await pipeline(turn("Can I return them?", user="carol", history=history))

    assert provider.calls == 3
    assert fresh.provider == "openai"
    assert stage.metrics()["bypassed_history"] == 2


async def test_a_conversation_with_history_does_not_read_answers_stored_by_others() -> None:
    _, provider, pipeline = setup()
    await pipeline(turn("How long does shipping take?", user="alice"))

    follow_up = await pipeline(
        turn("How long does shipping take?", user="bob", history=(past("to Norway"),))
    )

    assert follow_up.provider == "openai"
    assert provider.calls == 2


@pytest.mark.parametrize(
    "text",
    [
        "/help",
        "Where is order 1234567?",
        "my email is jane.doe@example.com, any news?",
        "call me on 555-123-4567",
        "x" * 301,
    ],
)
async def test_commands_and_questions_that_look_personal_bypass_the_cache(text: str) -> None:
    stage, provider, pipeline = setup()
    await pipeline(turn(text, user="alice"))
    await pipeline(turn(text, user="bob"))

    assert provider.calls == 2
    assert stage.metrics()["stores"] == 0
    assert stage.metrics()["misses"] == 0  # a bypassed turn never even looks


def scripted(reply: Reply) -> tuple[list[int], Next]:
    calls = [0]

    async def terminal(turn: Turn) -> Reply:
        calls[0] += 1
        return reply

    return calls, terminal


@pytest.mark.parametrize(
    "reply",
    [
        Reply("Sorry, I don't know.", outcome=TurnOutcome.UNKNOWN, provider="rules"),
        Reply("A person will reply.", ReplyKind.NOTICE, TurnOutcome.HANDED_OFF, "handoff"),
        Reply("Handed over.", ReplyKind.ANSWER, TurnOutcome.ANSWERED, provider="handoff"),
        Reply("Something broke.", ReplyKind.ERROR, TurnOutcome.FAILED),
        Reply("Maintenance tonight.", ReplyKind.NOTICE, TurnOutcome.ANSWERED, "openai"),
        Reply("   ", provider="openai"),
    ],
    ids=["unknown", "handoff-notice", "handoff-answer", "error", "notice", "blank"],
)
async def test_replies_that_are_not_real_answers_are_not_cached(reply: Reply) -> None:
    stage = CacheStage(ResponseCache(10, 60), VERSION)
    calls, terminal = scripted(reply)
    pipeline = compose([stage], terminal)

    await pipeline(turn("Do you sell gift cards?", user="alice"))
    second = await pipeline(turn("Do you sell gift cards?", user="bob"))

    assert calls[0] == 2
    assert second == reply
    assert stage.metrics()["stores"] == 0
    assert stage.metrics()["not_stored"] == 2


async def test_a_rules_tier_answer_is_cached() -> None:
    stage = CacheStage(ResponseCache(10, 60), VERSION)
    calls, terminal = scripted(Reply("We open at 9.", provider="rules", model="kb-v1"))
    pipeline = compose([stage], terminal)

    await pipeline(turn("When do you open?"))
    hit = await pipeline(turn("When do you open?", user="bob"))

    assert calls[0] == 1
    assert (hit.provider, hit.model) == ("cache", "kb-v1")


async def test_an_expired_answer_is_asked_for_again() -> None:
    clock = ManualClock()
    _, provider, pipeline = setup(ttl=600, clock=clock)
    await pipeline(turn("Do you ship abroad?", user="alice"))

    clock.now = 599
    assert (await pipeline(turn("Do you ship abroad?", user="bob"))).provider == "cache"
    clock.now = 600
    assert (await pipeline(turn("Do you ship abroad?", user="carol"))).provider == "openai"
    assert provider.calls == 2


async def test_the_cache_never_holds_more_than_its_bound() -> None:
    stage, provider, pipeline = setup(max_entries=5)
    for n in range(50):
        await pipeline(turn(f"Do you stock size {n % 10 + 30} shoes?", user=f"user{n}"))

    metrics = stage.metrics()
    assert metrics["entries"] == 5
    assert metrics["evictions"] == 45
    # Ten questions cycling through a five-entry LRU: every lookup misses.
    assert provider.calls == 50


async def test_a_new_context_version_invalidates_earlier_answers() -> None:
    cache = ResponseCache(10, 3600)
    provider = CountingProvider()
    old = compose([CacheStage(cache, "prompt:v1|kb:1")], answering(provider))
    new = compose([CacheStage(cache, "prompt:v1|kb:2")], answering(provider))

    await old(turn("What is your returns policy?"))
    reply = await new(turn("What is your returns policy?", user="bob"))

    assert reply.provider == "openai"
    assert provider.calls == 2


async def test_an_edited_system_prompt_invalidates_even_without_a_new_version() -> None:
    _, provider, pipeline = setup()
    await pipeline(turn("Do you sell gift cards?"))
    reply = await pipeline(turn("Do you sell gift cards?", user="bob", system_prompt="be rude"))

    assert reply.provider == "openai"
    assert provider.calls == 2


async def test_behind_the_real_context_stage_only_a_first_message_uses_the_cache(
    store: SqliteStore,
) -> None:
    stage = CacheStage(ResponseCache(100, 3600), VERSION)
    provider = CountingProvider()
    pipeline = compose([ContextStage(store, history_limit=20), stage], answering(provider))

    def fresh(text: str, user: str) -> Turn:
        return Turn(message(text, user=user), system_prompt="be brief")

    await pipeline(fresh("Do you ship to Canada?", "alice"))
    follow_up = await pipeline(fresh("Do you ship to Canada?", "alice"))
    first_for_bob = await pipeline(fresh("do you ship to canada", "bob"))

    assert follow_up.provider == "openai"  # alice now has history: her turn bypasses
    assert first_for_bob.provider == "cache"
    assert provider.calls == 2
    stored = await store.context(message("x", user="bob").chat, 10)
    assert [m.text for m in stored][-1] == first_for_bob.text  # a hit is recorded like a reply
