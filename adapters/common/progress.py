"""Which parts of a multi-part reply already reached the platform.

A reply split into several messages can fail part-way (a 429 past its cap, a network drop on
part 3). The gateway then sends the reply again; without this record every part that already
went out would be posted a second time. In memory and bounded: after a restart a reply that
failed part-way is sent whole again, which the docs say.

``SentParts.send`` is the one loop every adapter uses: it skips the parts that went out before,
records each part as it goes out, and forgets the reply once all of it is out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from core.cache.lru import BoundedCache
from core.model import IncomingMessage

T = TypeVar("T")


class SentParts:
    """How many leading parts of each message's reply were delivered."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._sent: BoundedCache[int] = BoundedCache(max_entries)

    async def send(
        self,
        message: IncomingMessage,
        parts: Sequence[T],
        post: Callable[[int, T], Awaitable[None]],
    ) -> None:
        """Post the reply to ``message``, ``parts`` in order, with ``post(index, part)``.

        Parts a failed earlier try delivered are skipped. When as many parts as this reply has,
        or more, are recorded, it is not the reply that was cut off (the reply changed): all of
        it is sent, from part 0. Whatever ``post`` raises propagates, the parts before it
        recorded; once every part is out nothing is remembered.
        """
        key = _key(message)
        start = self._sent.get(key) or 0
        if start >= len(parts):
            start = 0
        for index in range(start, len(parts)):
            await post(index, parts[index])
            self._sent.put(key, index + 1)
        self._sent.pop(key)


def _key(message: IncomingMessage) -> str:
    return f"{message.chat.key}\x1f{message.message_id}"
