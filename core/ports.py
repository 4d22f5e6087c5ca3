"""The seams of the core, one Protocol each.

Implementations live beside their kind (``core/storage/sqlite``, ``core/providers/rules``); the
fakes in ``tests/`` implement the same Protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from core.model import (
    ChatMessage,
    ChatRef,
    Completion,
    InboxEntry,
    IncomingMessage,
    Received,
    Reply,
    StoredMessage,
    Ticket,
    Turn,
    UserRef,
)

Next = Callable[[Turn], Awaitable[Reply]]


class Stage(Protocol):
    """One layer of the onion: may short-circuit, or wrap ``call_next``."""

    async def __call__(self, turn: Turn, call_next: Next) -> Reply: ...


class Provider(Protocol):
    """Something that answers a prompt: an LLM, the rules tier, or a human hand-off."""

    @property
    def name(self) -> str: ...

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion: ...


@runtime_checkable
class HealthProbe(Protocol):
    """A provider that can be asked, cheaply, whether it works again (a circuit's probe)."""

    async def probe(self) -> None:
        """Return if the provider answers; raise a ``ProviderError`` if it does not."""
        ...


class Validator(Protocol):
    """Checks a model's reply before the user sees it."""

    async def validate(self, text: str, turn: Turn) -> str:
        """The text to send (``text`` or a redacted copy); raise ``ValidationFailed`` to reject."""
        ...


class FactsProvider(Protocol):
    """What the business knows about a user (balance, last order...), to ground the answers."""

    async def facts_for(self, user: UserRef) -> Mapping[str, str]:
        """Named facts, e.g. ``{"balance": "$47.15"}``; empty when nothing is known."""
        ...


class ConversationStore(Protocol):
    """Users and messages in both directions; later issues add tickets and audit entries."""

    async def record_incoming(self, message: IncomingMessage) -> int:
        """Store a user's message (creating the user if new); returns its row id."""
        ...

    async def record_reply(self, message: IncomingMessage, reply: Reply, latency_ms: float) -> int:
        """Store the bot's reply to ``message`` with provider, tokens, cost, latency, outcome."""
        ...

    async def context(self, chat: ChatRef, limit: int) -> tuple[StoredMessage, ...]:
        """The newest ``limit`` messages since the last reset, oldest first, failures left out."""
        ...

    async def reset_context(self, chat: ChatRef) -> None:
        """Start the conversation afresh; stored messages stay but no longer reach the model."""
        ...

    async def forget_user(self, user: UserRef) -> int:
        """Delete everything stored about ``user``; returns how many messages were removed."""
        ...


class TurnMetrics(Protocol):
    """Where the error boundary reports every turn."""

    def turn_finished(self, reply: Reply, seconds: float) -> None: ...

    def turn_crashed(self, stage_error: str) -> None: ...


class MessageSink(Protocol):
    """What a request/response adapter (web chat, console) hands messages to: the ``Gateway``."""

    async def submit(self, message: IncomingMessage) -> Reply:
        """Accept ``message`` and wait for its reply."""
        ...


class PushSink(Protocol):
    """What a push platform's adapter (Telegram, Discord, Slack) hands messages to: the gateway."""

    def connect(self, platform: str, outbound: Outbound) -> None:
        """Route ``platform``'s replies, typing indicators and refusals to ``outbound``."""
        ...

    async def deliver(self, message: IncomingMessage) -> None:
        """Accept ``message``; returns once it is stored, before it is answered."""
        ...


class Outbound(Protocol):
    """How the core reaches a push platform (Telegram, Discord, Slack) on its own."""

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        """Deliver ``reply`` to where ``message`` came from; raise ``DeliveryError`` if refused."""
        ...

    async def typing(self, message: IncomingMessage) -> None:
        """Show that an answer is being written; repeated while the turn runs."""
        ...


class Inbox(Protocol):
    """Durable intake: a message is stored before it is acknowledged, until its reply is sent."""

    async def receive(self, message: IncomingMessage) -> Received:
        """Store ``message`` as pending, or report that its id was delivered before."""
        ...

    async def answered(self, entry_id: int, reply: Reply) -> None:
        """The turn produced ``reply``; a restart sends it instead of running the turn again."""
        ...

    async def done(self, entry_id: int) -> None:
        """The reply reached the user."""
        ...

    async def discard(self, entry_id: int) -> None:
        """Forget the entry: its sender was told to send the message again."""
        ...

    async def unfinished(self) -> list[InboxEntry]:
        """What a crash left: entries not done, oldest first, with the replays each began."""
        ...

    async def newest(self, limit: int) -> list[tuple[str, str, str, int]]:
        """(platform, chat key, message id, entry id) of the newest ``limit`` entries."""
        ...

    async def replaying(self, entry_id: int) -> None:
        """A replayed entry starts to run again (counted, so a poison message stops)."""
        ...

    async def held_replies(self, chat: ChatRef) -> list[Reply]:
        """Replies nobody was connected to receive (a replay for the web chat); now done."""
        ...


class TicketStore(Protocol):
    """Hand-off tickets: at most one open ticket per conversation."""

    async def open_ticket(
        self, user: UserRef, chat: ChatRef, reason: str, transcript: Sequence[StoredMessage]
    ) -> Ticket:
        """Open a ticket for ``chat``, or return the one already open (never two at once)."""
        ...

    async def open_ticket_for(self, chat: ChatRef) -> Ticket | None: ...

    async def open_tickets(self) -> list[Ticket]: ...

    async def close_ticket(self, ticket_id: int) -> bool:
        """Close it; False if no such open ticket."""
        ...


class HandoffNotifier(Protocol):
    """Tells the people on duty that a conversation needs them."""

    async def ticket_opened(self, ticket: Ticket) -> None: ...
