"""Keeps a conversation that people from the team hold away from the model."""

from __future__ import annotations

from core.handoff.handoff import PROVIDER
from core.model import Reply, ReplyKind, Turn, TurnOutcome
from core.ports import ConversationStore, Next, TicketStore

HELD = "A person from our team has this conversation and will get back to you."


class HandoffGate:
    """While the chat has an open ticket, stores each message for the team and says so.

    It sits after the commands, so ``/forget``, ``/reset`` and ``/help`` still work during a
    hand-off, and before the context stage, so a held turn neither loads history nor reaches
    a provider.
    """

    def __init__(self, tickets: TicketStore, store: ConversationStore) -> None:
        self._tickets = tickets
        self._store = store

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        if await self._tickets.open_ticket_for(turn.message.chat) is None:
            return await call_next(turn)
        # Stored like any incoming message, so the people on duty read it with the rest.
        await self._store.record_incoming(turn.message)
        return Reply(
            HELD, kind=ReplyKind.NOTICE, outcome=TurnOutcome.HANDED_OFF, provider=PROVIDER
        )
