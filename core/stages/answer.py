"""The terminal handler: asks the provider and turns its completion into a reply.

The fallback ladder (several providers, retries, validation) replaces the single provider here.
"""

from __future__ import annotations

from core.model import Reply, ReplyKind, Turn, TurnOutcome
from core.ports import Provider


class ProviderAnswer:
    """Calls one provider with the turn's prompt."""

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    async def __call__(self, turn: Turn) -> Reply:
        completion = await self._provider.complete(turn.prompt(), turn.message.user)
        return Reply(
            completion.text,
            kind=ReplyKind.ANSWER,
            outcome=TurnOutcome.UNKNOWN if completion.unknown else TurnOutcome.ANSWERED,
            provider=completion.provider,
            model=completion.model,
            usage=completion.usage,
        )
