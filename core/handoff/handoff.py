"""Opens a ticket for a conversation, tells the people on duty, and tells the user."""

from __future__ import annotations

import asyncio

from loguru import logger

from core.logref import pseudonym
from core.model import Reply, ReplyKind, Role, StoredMessage, Ticket, Turn, TurnOutcome
from core.ports import HandoffNotifier, TicketStore

PROVIDER = "handoff"

# Reasons are fixed phrases, never user text: they are shown to the team and written to logs.
REASON_USER_ASKED = "user asked for a person"
REASON_PROVIDERS_FAILED = "no provider could answer"

# Until moderators can answer through the bot (a later piece of work), the promise is only what
# is true: the team has the conversation, and the bot stays out of it.
OPENED = (
    "I've passed this conversation to a person from our team, who will get back to you. "
    "Until then I won't answer automatically."
)
ALREADY_OPEN = "A person from our team already has this conversation and will get back to you."


class Handoff:
    """Hands a conversation to people; always produces a reply the user can be shown.

    The ticket is written before anyone is notified, so a notifier that fails or hangs costs
    the team a ping, never the user's reply or the record of what they asked.
    """

    def __init__(
        self,
        tickets: TicketStore,
        notifier: HandoffNotifier,
        transcript_size: int = 10,
        notify_timeout: float = 5.0,
    ) -> None:
        if transcript_size < 0:
            raise ValueError("transcript_size must not be negative")
        self._tickets = tickets
        self._notifier = notifier
        self._transcript_size = transcript_size
        self._notify_timeout = notify_timeout

    @property
    def transcript_size(self) -> int:
        """How many earlier messages a ticket copies (the current one comes on top)."""
        return self._transcript_size

    async def hand_off(self, turn: Turn, reason: str) -> Reply:
        chat = turn.message.chat
        # Turns of one conversation run one at a time, so nothing opens a ticket in between.
        if await self._tickets.open_ticket_for(chat) is not None:
            return _reply(ALREADY_OPEN)
        ticket = await self._tickets.open_ticket(
            turn.message.user, chat, reason, _transcript(turn, self._transcript_size)
        )
        await self._notify(ticket)
        return _reply(OPENED)

    async def _notify(self, ticket: Ticket) -> None:
        try:
            async with asyncio.timeout(self._notify_timeout):
                await self._notifier.ticket_opened(ticket)
        except Exception as exc:  # the ticket is stored: the team still finds it in the listing
            logger.opt(exception=exc).error(
                "could not notify the team of hand-off ticket #{} (conversation {})",
                ticket.id,
                pseudonym(ticket.chat.key),
            )


def _transcript(turn: Turn, size: int) -> tuple[StoredMessage, ...]:
    earlier = turn.history[-size:] if size else ()
    message = turn.message
    # Not stored yet as far as this turn knows, hence id 0; it is always the ticket owner's.
    current = StoredMessage(id=0, role=Role.USER, text=message.text, created_at=message.sent_at)
    return (*earlier, current)


def _reply(text: str) -> Reply:
    return Reply(text, kind=ReplyKind.NOTICE, outcome=TurnOutcome.HANDED_OFF, provider=PROVIDER)
