"""The normalized model every adapter converts into and every stage works on.

Platform-specific data rides in ``extras``, which the core never reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person, identified per platform: ``("telegram", "12345")``."""

    platform: str
    user_id: str
    display_name: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """Where a conversation happens: a DM, a group, or a thread inside one."""

    platform: str
    chat_id: str
    thread_id: str = ""
    is_group: bool = False

    @property
    def key(self) -> str:
        """One conversation's identity; lanes, locks and history are keyed by it."""
        return f"{self.platform}:{self.chat_id}:{self.thread_id}"


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command the adapter parsed (natively or from text), without platform syntax."""

    name: str
    args: str = ""


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message a user sent, as every adapter hands it to the core."""

    message_id: str
    user: UserRef
    chat: ChatRef
    text: str
    sent_at: datetime
    command: Command | None = None
    extras: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False)
    # Read back from the durable inbox after a restart: its turn may have begun before.
    replayed: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.sent_at.tzinfo is None:
            raise ValueError("sent_at must be timezone-aware")


class ReplyKind(StrEnum):
    """Lets a client tell an answer to the question from a notice about the bot itself."""

    ANSWER = "answer"
    NOTICE = "notice"
    ERROR = "error"


class TurnOutcome(StrEnum):
    """How a turn ended; stored with the reply and counted in metrics."""

    ANSWERED = "answered"
    UNKNOWN = "unknown"  # the rules tier honestly did not know
    COMMAND = "command"
    HANDED_OFF = "handed_off"  # a person from the team takes over
    RATE_LIMITED = "rate_limited"  # refused at admission: too many messages too fast
    BLOCKED = "blocked"  # refused at admission: an admin blocked the user
    BUSY = "busy"  # refused at intake: the backlog is full
    OVER_BUDGET = "over_budget"  # the user's (or the bot's) token/cost budget is spent
    DUPLICATE = "duplicate"  # the platform delivered a message id already received
    FAILED = "failed"  # the error boundary caught something


@dataclass(frozen=True, slots=True)
class Usage:
    """What a provider call cost, from the provider's own usage fields."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def is_free(self) -> bool:
        """Nothing was used: no tokens and no cost (the rules, the cache, a command)."""
        return not (self.input_tokens or self.output_tokens or self.cost_usd)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the core answers to one incoming message."""

    text: str
    kind: ReplyKind = ReplyKind.ANSWER
    outcome: TurnOutcome = TurnOutcome.ANSWERED
    provider: str = ""
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    # The fallback ladder's path to this reply: "openai:timeout", "anthropic:answered", ...
    trail: tuple[str, ...] = ()
    # Refused at admission: seconds until the user may send again; None otherwise.
    retry_after: float | None = None
    # Nothing is sent to a push platform for a silent reply (a flood gets one "slow down" per
    # window, not one per message); an HTTP API still answers it (429).
    silent: bool = False


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One entry of the prompt handed to a provider."""

    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as the conversation store keeps it (both directions)."""

    id: int
    role: Role
    text: str
    created_at: datetime
    # Worked out when the message was stored (None for rows from before that was done).
    tokens: int | None = None
    importance: float | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's answer before it becomes a ``Reply``."""

    text: str
    provider: str
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    # The rules tier sets this when nothing in the knowledge base matched well enough.
    unknown: bool = False


class Spend(StrEnum):
    """How much a turn may spend, set by the budget stage; the ladder obeys it."""

    FULL = "full"  # every rung, in the configured order
    ECONOMY = "economy"  # near a budget: the rules first, then only the cheapest model
    FREE = "free"  # a budget is spent: only what costs nothing (the rules, people)


@dataclass(frozen=True, slots=True)
class Turn:
    """Everything one pass through the pipeline knows; stages extend it with ``replace``."""

    message: IncomingMessage
    history: tuple[StoredMessage, ...] = ()
    system_prompt: str = ""
    # What the business knows about this user (``FactsProvider``); empty when nothing is.
    facts: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False)
    # The prompt already fitted to the model's token budget, when the context stage did so.
    context: tuple[ChatMessage, ...] = ()
    spend: Spend = Spend.FULL

    @property
    def conversation_key(self) -> str:
        return self.message.chat.key

    def prompt(self) -> tuple[ChatMessage, ...]:
        """System prompt and user facts, then history, then the current message."""
        if self.context:
            return self.context
        system = "\n\n".join(part for part in (self.system_prompt, self.facts_text()) if part)
        head = (ChatMessage(Role.SYSTEM, system),) if system else ()
        past = tuple(ChatMessage(m.role, m.text) for m in self.history)
        return (*head, *past, ChatMessage(Role.USER, self.message.text))

    def facts_text(self) -> str:
        """The user's facts as the model reads them; empty when there are none."""
        if not self.facts:
            return ""
        lines = "\n".join(
            f"- {name.replace('_', ' ')}: {value}" for name, value in self.facts.items()
        )
        return (
            "Facts about this customer from our systems (quote them exactly; "
            "never state a figure that is not here):\n" + lines
        )


class TicketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Ticket:
    """A conversation handed to people: who, where, why, and what was said before."""

    id: int
    user: UserRef
    chat: ChatRef
    reason: str
    transcript: tuple[StoredMessage, ...]
    opened_at: datetime
    status: TicketStatus = TicketStatus.OPEN


class InboxState(StrEnum):
    PENDING = "pending"  # accepted, its turn not finished
    ANSWERED = "answered"  # the reply is ready but not yet sent (or held for the client)
    DONE = "done"  # the reply was sent; the row only remembers the id, for duplicates


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """An accepted message as the durable inbox keeps it until its reply is sent."""

    id: int
    message: IncomingMessage
    state: InboxState = InboxState.PENDING
    reply: Reply | None = None
    # Replays begun for it (not merely loaded): a message that keeps crashing the process stops.
    replays: int = 0


@dataclass(frozen=True, slots=True)
class Received:
    """What the inbox says to a message: a new entry, or the earlier one with the same id."""

    entry_id: int
    duplicate: bool = False
