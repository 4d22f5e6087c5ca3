"""A FIFO lane per conversation, served round robin, with one bound on everything waiting.

Each conversation's messages wait in its own lane, in arrival order, and a lane is handed to
at most one worker at a time, so replies never overtake each other (one exception: a reply the
platform refused, for another reason than a rate limit, is tried again later from the back of
its lane, see ``core/gateway.py``).
Lanes with work wait in a ring: a worker takes the lane at the front, runs one message, and
the lane (if it has more) goes to the back. A user with a thousand queued messages therefore
gets one turn per round, like everybody else, and never delays the others by more than one
turn each.

Memory follows the backlog: an idle lane is dropped, and ``put`` refuses past ``max_backlog``
waiting items, so a spike can never grow memory without bound; and past ``max_per_lane`` in
one lane, so a single flooding conversation fills its own lane, never everyone's backlog.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairLanes(Generic[T]):
    """Per-key FIFO lanes, taken one key at a time, round robin across keys."""

    def __init__(self, max_backlog: int, max_per_lane: int | None = None) -> None:
        if max_backlog < 1 or (max_per_lane is not None and max_per_lane < 1):
            raise ValueError("max_backlog and max_per_lane must be at least 1")
        self._max = max_backlog
        self._max_per_lane = max_per_lane or max_backlog
        self._lanes: dict[str, deque[T]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()  # keys with work and no worker
        self._busy: set[str] = set()  # keys a worker holds right now
        self._waiting = 0

    def __len__(self) -> int:
        """Items waiting (not the ones being worked on)."""
        return self._waiting

    @property
    def lanes(self) -> int:
        """Conversations with work waiting or running."""
        return len(self._lanes)

    def has_room(self, key: str) -> bool:
        """Whether ``put(key, ...)`` would be taken now."""
        lane = self._lanes.get(key)
        return self._waiting < self._max and (lane is None or len(lane) < self._max_per_lane)

    def put(self, key: str, item: T, *, force: bool = False) -> bool:
        """Queue ``item`` at the back of ``key``'s lane; False when the backlog or lane is full.

        ``force`` skips the bounds, for messages already stored in the inbox.
        """
        if not force and not self.has_room(key):
            return False
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
        lane.append(item)
        self._waiting += 1
        if len(lane) == 1 and key not in self._busy:
            self._ready.put_nowait(key)
        return True

    async def take(self) -> tuple[str, T]:
        """The next lane's oldest item; the lane is held until ``release(key)``."""
        key = await self._ready.get()
        self._busy.add(key)
        self._waiting -= 1
        return key, self._lanes[key].popleft()

    def release(self, key: str) -> None:
        """The item taken from ``key`` is finished: the lane goes to the back of the ring."""
        self._busy.discard(key)
        lane = self._lanes.get(key)
        if lane:
            self._ready.put_nowait(key)
        elif lane is not None:
            del self._lanes[key]

    def take_all_waiting(self) -> list[T]:
        """Empty every lane (for shutdown); items being worked on are not included."""
        items = [item for lane in self._lanes.values() for item in lane]
        for key in list(self._lanes):
            if key in self._busy:
                self._lanes[key].clear()
            else:
                del self._lanes[key]
        while not self._ready.empty():
            self._ready.get_nowait()
        self._waiting = 0
        return items
