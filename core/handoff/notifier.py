"""The simplest ``HandoffNotifier``: a log line the people on duty (or their alerting) watch."""

from __future__ import annotations

from loguru import logger

from core.logref import pseudonym
from core.model import Ticket


class LogNotifier:
    """Logs each new ticket by number and reason, with a pseudonym of the conversation.

    Never the user's id or message text: logs are shipped and kept longer than tickets, and
    ``/forget`` cannot reach them. The team reads the transcript from the ops listing.
    """

    async def ticket_opened(self, ticket: Ticket) -> None:
        # WARNING, not INFO: a person has to act on it, and that is what alerting watches for.
        logger.warning(
            "hand-off ticket #{} opened (reason: {}; conversation {}; {} messages attached)",
            ticket.id,
            ticket.reason,
            pseudonym(ticket.chat.key),
            len(ticket.transcript),
        )
