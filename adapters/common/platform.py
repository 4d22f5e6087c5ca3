"""The contract every push platform's adapter (Telegram, Discord, Slack) fulfils.

An adapter is the platform's I/O shell around pure conversion functions (its ``convert.py``):

- **intake**: it turns the platform's updates into ``IncomingMessage`` and hands them to the
  core with ``PushSink.deliver``, which returns once the message is stored (the platform can be
  acknowledged then). What the bot must not answer (its own messages, other bots, a group
  message nobody addressed to it) never reaches the core;
- **outbound**: it is the platform's ``Outbound`` (``send`` and ``typing``), connected to the
  sink with ``PushSink.connect(platform, self)`` when it starts. ``send`` splits and formats the
  reply, honours the platform's rate limits (retrying after the delay it asks for) and raises
  ``DeliveryError`` when the reply cannot be delivered;
- **lifecycle**: ``async with adapter:`` connects, registers native commands and starts
  receiving; leaving it stops receiving and disconnects. ``routes()`` are the HTTP endpoints
  (webhooks, events) mounted on the shared HTTP app; empty in polling or gateway modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from starlette.routing import BaseRoute

from core.model import IncomingMessage, Reply


class PlatformAdapter(Protocol):
    """A running connection to one chat platform."""

    @property
    def platform(self) -> str:
        """The name used in ``UserRef.platform`` and ``ChatRef.platform``: "telegram", ..."""
        ...

    def routes(self) -> Sequence[BaseRoute]: ...

    async def send(self, message: IncomingMessage, reply: Reply) -> None: ...

    async def typing(self, message: IncomingMessage) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
