"""Which parts of a multi-part reply already reached the platform.

A reply split into several messages can fail part-way (a 429 past its cap, a network drop on
part 3). The gateway then sends the reply again; without this record every part that already
went out would be posted a second time. In memory and bounded: after a restart a reply that
failed part-way is sent whole again, which the docs say.
"""

from __future__ import annotations

from core.cache.lru import BoundedCache
from core.model import IncomingMessage


class SentParts:
    """How many leading parts of each message's reply were delivered."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._sent: BoundedCache[int] = BoundedCache(max_entries)

    def already(self, message: IncomingMessage) -> int:
        """Parts of the reply to ``message`` that went out before (0 for a first try)."""
        return self._sent.get(_key(message)) or 0

    def delivered(self, message: IncomingMessage, parts: int) -> None:
        """``parts`` leading parts are out; remembered until ``finished``."""
        self._sent.put(_key(message), parts)

    def finished(self, message: IncomingMessage) -> None:
        """The whole reply went out: nothing to remember."""
        self._sent.pop(_key(message))


def _key(message: IncomingMessage) -> str:
    return f"{message.chat.key}\x1f{message.message_id}"
