"""What the pipeline benchmarks share: a stand-in model and the messages simulated users send."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.model import ChatMessage, ChatRef, Completion, IncomingMessage, UserRef


@dataclass
class Scripted:
    """Answers ``text`` after a fixed latency, at no cost; ``on_done`` is told the question and
    how long the answer really took (the sleep's own lateness included), in seconds."""

    latency: float  # seconds
    name: str = "scripted"
    text: str = "Thanks, here is what I found for you."
    on_done: Callable[[str, float], None] | None = None

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        started = time.perf_counter()
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.on_done is not None:
            self.on_done(prompt[-1].text, time.perf_counter() - started)
        return Completion(self.text, self.name)


def message(
    user: str, n: int, *, platform: str = "bench", text: str | None = None
) -> IncomingMessage:
    """Message ``n`` of ``user``, in their private chat; the text defaults to a plain question."""
    return IncomingMessage(
        f"{user}-{n}",
        UserRef(platform, user),
        ChatRef(platform, user),
        f"question {n} from {user}" if text is None else text,
        datetime.now(UTC),
    )
