"""A stand-in model for the benchmarks: answers after a fixed latency, at no cost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from core.model import ChatMessage, Completion, UserRef


@dataclass
class Scripted:
    latency: float  # seconds
    name: str = "scripted"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        if self.latency:
            await asyncio.sleep(self.latency)
        return Completion("Thanks, here is what I found for you.", self.name)
