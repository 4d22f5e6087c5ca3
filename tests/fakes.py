"""Fakes that implement the core's Protocols for tests (never mocks of our own functions)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

from core.commands import parse_command
from core.model import (
    ChatMessage,
    ChatRef,
    Completion,
    IncomingMessage,
    Reply,
    ReplyKind,
    Ticket,
    Turn,
    TurnOutcome,
    UserRef,
)
from core.ports import Next, Provider

_ids = count(1)


@dataclass
class VirtualTime:
    """A clock and a sleep for code that paces itself: sleeping moves time on, at once."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def message(
    text: str, user: str = "u1", chat: str | None = None, platform: str = "test"
) -> IncomingMessage:
    """A normalized message as an adapter would build it."""
    return IncomingMessage(
        message_id=f"m{next(_ids)}",
        user=UserRef(platform, user),
        chat=ChatRef(platform, chat or user),
        text=text,
        sent_at=datetime.now(UTC),
        command=parse_command(text),
    )


@dataclass
class EchoProvider:
    """Answers "echo: <last message>", optionally after a delay; records every prompt."""

    delay: float = 0.0
    prompts: list[tuple[ChatMessage, ...]] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return "echo"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        self.prompts.append(tuple(prompt))
        self.called.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        return Completion(f"echo: {prompt[-1].text}", provider="echo", model="echo-1")


@dataclass
class BrokenProvider:
    """Raises whatever it is given, as a failing dependency would."""

    error: Exception

    @property
    def name(self) -> str:
        return "broken"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        raise self.error


@dataclass
class RecordingMetrics:
    """A ``TurnMetrics`` that remembers what it was told."""

    finished: list[tuple[Reply, float]] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)

    def turn_finished(self, reply: Reply, seconds: float) -> None:
        self.finished.append((reply, seconds))

    def turn_crashed(self, stage_error: str) -> None:
        self.crashed.append(stage_error)


@dataclass
class RecordingNotifier:
    """A ``HandoffNotifier`` that remembers each ticket, or fails like a broken channel would."""

    error: Exception | None = None
    delay: float = 0.0
    tickets: list[Ticket] = field(default_factory=list)

    async def ticket_opened(self, ticket: Ticket) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.tickets.append(ticket)


def answering(provider: Provider) -> Next:
    """The simplest terminal handler: ask one provider, no ladder around it."""

    async def answer(turn: Turn) -> Reply:
        completion = await provider.complete(turn.prompt(), turn.message.user)
        return Reply(
            completion.text,
            kind=ReplyKind.ANSWER,
            outcome=TurnOutcome.ANSWERED,
            provider=completion.provider,
            model=completion.model,
            usage=completion.usage,
        )

    return answer
